/// Tern's fuzz targets: one entry function per parser that reads bytes from outside (a client,
/// a next hop, a DNS server, a message, a query string, a configuration file, the files Tern
/// itself left on disk). Each function takes arbitrary octets and must return: a Swift trap
/// (overflow, bad index, force-unwrap, `precondition`) is a crash of the whole server
/// (../shared/design/hostile-inputs.md, 45 and 46).
///
/// The same functions run in two ways (docs/fuzzing.md):
/// - `scripts/fuzz` builds the `tern-fuzz` executable with `-sanitize=fuzzer,address`, whose
///   `LLVMFuzzerTestOneInput` calls the target named by `TERN_FUZZ_TARGET`;
/// - `TernFuzzTests` replays every file of `Fuzz/Corpus/<target>/` and `Fuzz/Regressions/<target>/`
///   through them in the ordinary `swift test`, so a crash once found stays fixed.
///
/// Entry functions keep to the modules' public and package API (no `@testable`), so they build
/// in release mode, which is how `scripts/fuzz` builds them.

/// One fuzz target.
package struct FuzzTarget: Sendable {
    /// The value of `TERN_FUZZ_TARGET` and the folder name under `Fuzz/Corpus` and `Fuzz/Regressions`.
    package let name: String
    /// What it feeds the bytes to.
    package let summary: String
    /// The largest input worth generating (libFuzzer's `-max_len`): a little over what the
    /// parser's own limits let through, so the limits themselves are crossed.
    package let maximumLength: Int
    /// The entry function: must return for every input.
    package let run: @Sendable ([UInt8]) -> Void

    package init(name: String, summary: String, maximumLength: Int, run: @escaping @Sendable ([UInt8]) -> Void) {
        self.name = name
        self.summary = summary
        self.maximumLength = maximumLength
        self.run = run
    }
}

package enum FuzzTargets {
    /// Every target, in the order `scripts/fuzz` runs them.
    package static let all: [FuzzTarget] = [
        SMTPTargets.server,
        SMTPTargets.command,
        SMTPTargets.path,
        SMTPTargets.data,
        SMTPTargets.sasl,
        SMTPTargets.reply,
        SMTPTargets.client,
        IMAPTargets.server,
        IMAPTargets.framer,
        IMAPTargets.deflate,
        IMAPTargets.command,
        IMAPTargets.sequenceSet,
        IMAPTargets.dateTime,
        IMAPTargets.mailboxName,
        IMAPTargets.facts,
        POP3Targets.server,
        POP3Targets.command,
        DNSTargets.message,
        MIMETargets.message,
        MIMETargets.header,
        MIMETargets.fields,
        MIMETargets.date,
        MailAuthTargets.dkim,
        MailAuthTargets.dkimMessage,
        MailAuthTargets.spf,
        CatcherTargets.searchQuery,
        CatcherTargets.sendRequest,
        ConfigurationTargets.configuration,
        ConfigurationTargets.sendmail,
        StoreTargets.spool,
        StoreTargets.journal,
        StoreTargets.uidList,
        StoreTargets.maildirModseq,
        StoreTargets.maildirCache,
        StoreTargets.maildirName,
        StoreTargets.maildirFolder,
    ]

    package static func named(_ name: String) -> FuzzTarget? {
        all.first { $0.name == name }
    }
}

/// Reads a fuzz input as a few control octets followed by the payload, so one input can also
/// choose a configuration and how the payload is split into reads. Every read is total: past
/// the end it yields zeros, never traps.
struct FuzzInput {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The next control octet (0 past the end).
    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// Everything not taken as control octets.
    var rest: ArraySlice<UInt8> {
        bytes[min(position, bytes.count)...]
    }

    /// Splits `payload` into reads of 1 to `maximumRead` octets whose sizes come from `seed`,
    /// as a socket may deliver them. Seed 0 delivers the payload in one read.
    static func reads(_ payload: ArraySlice<UInt8>, seed: UInt8, maximumRead: Int = 64) -> [ArraySlice<UInt8>] {
        guard seed != 0 else { return [payload] }
        var generator = SplitMix64(seed: UInt64(seed))
        var reads: [ArraySlice<UInt8>] = []
        var start = payload.startIndex
        while start < payload.endIndex {
            let size = 1 + Int(generator.next() % UInt64(maximumRead))
            let end = min(payload.endIndex, start + size)
            reads.append(payload[start..<end])
            start = end
        }
        return reads
    }
}

/// SplitMix64: a deterministic generator, so a fuzz input always runs the same way.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A failed invariant that is not a trap in the code under test (a round trip that changed a
/// value). It stops the process like a trap, so libFuzzer saves the input.
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError("fuzz invariant: \(message())", file: file, line: line) }
}
