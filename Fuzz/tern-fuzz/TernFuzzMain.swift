// tern-fuzz: runs Tern's fuzz targets (Fuzz/TernFuzzTargets). docs/fuzzing.md explains them.
//
// Built by `scripts/fuzz` with `-sanitize=fuzzer,address -DTERN_FUZZING`, it is a libFuzzer
// binary: `TERN_FUZZ_TARGET=<name> tern-fuzz [libFuzzer flags] [corpus dirs or files]`.
// `TERN_FUZZ_TARGET=list` prints the targets with their largest useful input.
//
// In the ordinary build (no libFuzzer) it replays inputs instead, so a crash file can be
// reproduced and debugged without the fuzzer: `tern-fuzz <target> <file or dir>...`, or
// `tern-fuzz list`.
import Foundation
import TernFuzzTargets

#if TERN_FUZZING
import CTernFuzz

/// The target named by TERN_FUZZ_TARGET, chosen once when libFuzzer starts.
let selectedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["TERN_FUZZ_TARGET"] ?? ""
    if name == "list" {
        listTargets()
        exit(0)
    }
    guard let target = FuzzTargets.named(name) else {
        let message = "tern-fuzz: set TERN_FUZZ_TARGET to one of: \(FuzzTargets.all.map(\.name).joined(separator: ", "))\n"
        FileHandle.standardError.write(Data(message.utf8))
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
) -> CInt {
    _ = selectedTarget
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selectedTarget.run(bytes)
    return 0
}

/// The executable's entry point: SwiftPM links `main` to the module's entry function
/// (`<module>_main`), so libFuzzer's own `main` is not the one that runs; this one starts
/// libFuzzer's driver the same way.
@_cdecl("tern_fuzz_main")
public func ternFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        fuzzerTestOneInput(data, size)
    }
}

#else

@main
struct TernFuzzReplay {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, name != "-h", name != "--help" else {
            print("usage: tern-fuzz list | tern-fuzz <target> <file or directory>...")
            print("(built without libFuzzer: this replays inputs; scripts/fuzz builds the fuzzer)")
            exit(arguments.isEmpty ? 2 : 0)
        }
        if name == "list" {
            listTargets()
            return
        }
        guard let target = FuzzTargets.named(name) else {
            FileHandle.standardError.write(Data("tern-fuzz: no target \(name); `tern-fuzz list` names them\n".utf8))
            exit(2)
        }
        var replayed = 0
        for path in arguments.dropFirst() {
            for file in files(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("tern-fuzz: cannot read \(file)\n".utf8))
                    exit(1)
                }
                // Named first, so the input that traps is the last line printed.
                print("\(target.name): \(file)")
                target.run(Array(data))
                replayed += 1
            }
        }
        print("\(target.name): \(replayed) inputs replayed, none crashed")
    }

    /// The file itself, or the regular files of a directory in name order.
    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return [path]
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { "\(path)/\($0)" }.filter { file in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }
}

#endif

/// One line per target: name, largest useful input, what it fuzzes (read by scripts/fuzz).
func listTargets() {
    for target in FuzzTargets.all {
        print("\(target.name) \(target.maximumLength) \(target.summary)")
    }
}
