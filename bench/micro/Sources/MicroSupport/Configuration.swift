public import Benchmark

#if canImport(Glibc)
import Glibc
#endif

extension Benchmark.Configuration {
    /// What every micro benchmark reports. Wall clock and throughput show speed; malloc count
    /// and bytes are exact and machine independent, the figures an allocation diet must move;
    /// instructions, steadier than time on a shared machine, where a hardware counter exists.
    ///
    /// `scalingFactor` is for operations of a few microseconds or less: each sample then times
    /// that many operations, so the clock's own cost (about 0.1 µs here) is spread over them,
    /// and the plugin divides the figures back to one operation.
    public static func micro(_ scalingFactor: BenchmarkScalingFactor = .one) -> Benchmark.Configuration {
        .init(
            metrics: [.wallClock, .throughput, .mallocCountTotal, .mallocBytesCount]
                + (hardwareCounterAvailable ? [.instructions] : []),
            // Plain units, never "K" or "μs": exact counts, and one column scale for run.sh's CSV.
            timeUnits: .nanoseconds,
            units: [.throughput: .count, .mallocCountTotal: .count, .mallocBytesCount: .count, .instructions: .count],
            warmupIterations: 10,
            scalingFactor: scalingFactor,
            maxDuration: .seconds(2),
            maxIterations: 20_000
        )
    }

    /// Whether the kernel exposes a CPU performance monitoring unit (perf_event_open's hardware
    /// counters). A VM without a virtual PMU, like this project's machines, has none: asking
    /// for `.instructions` there reports nothing and adds 16 mallocs of the plugin's own to
    /// every sample, which would drown the counts being measured. `TERN_BENCH_INSTRUCTIONS=1`
    /// or `=0` overrides the guess.
    static let hardwareCounterAvailable: Bool = {
        #if os(Linux)
        if let setting = getenv("TERN_BENCH_INSTRUCTIONS") { return String(cString: setting) == "1" }
        // x86 ("cpu", hybrid Intel "cpu_core") and Arm ("armv8_pmuv3_0") PMU names.
        return ["cpu", "cpu_core", "armv8_pmuv3", "armv8_pmuv3_0"].contains {
            access("/sys/bus/event_source/devices/\($0)", F_OK) == 0
        }
        #else
        return true
        #endif
    }()
}
