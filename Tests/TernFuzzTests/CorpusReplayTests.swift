import Foundation
import TernFuzzTargets
import Testing

/// Replays every seed (`Fuzz/Corpus/<target>/`) and every input that once crashed
/// (`Fuzz/Regressions/<target>/`) through the fuzz targets, in the ordinary build: what the
/// fuzzer found stays fixed without the fuzzer (docs/fuzzing.md). A trap here stops the test
/// process; the input is the one named in the last `replaying` line of the output.
@Suite("Fuzz corpora")
struct CorpusReplayTests {
    /// The package root, three levels above this file.
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(_ folder: String, _ target: String) -> [URL] {
        let directory = fuzzDirectory.appendingPathComponent(folder).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test("seeds and regressions run without a trap", arguments: FuzzTargets.all.map(\.name))
    func replay(_ name: String) throws {
        let target = try #require(FuzzTargets.named(name))
        let seeds = Self.inputs("Corpus", name)
        #expect(!seeds.isEmpty, "Fuzz/Corpus/\(name) has no seed")
        for file in seeds + Self.inputs("Regressions", name) {
            print("replaying \(file.path)")
            target.run(Array(try Data(contentsOf: file)))
        }
    }

    @Test("every corpus folder names a target")
    func foldersNameTargets() {
        let names = Set(FuzzTargets.all.map(\.name))
        for folder in ["Corpus", "Regressions"] {
            let directory = Self.fuzzDirectory.appendingPathComponent(folder)
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            where !entry.hasPrefix(".") {
                #expect(names.contains(entry), "Fuzz/\(folder)/\(entry) is not a fuzz target")
            }
        }
    }

    @Test("targets have distinct names and sensible input limits")
    func targetTable() {
        let names = FuzzTargets.all.map(\.name)
        #expect(Set(names).count == names.count)
        for target in FuzzTargets.all {
            #expect((64...1_048_576).contains(target.maximumLength), "\(target.name)")
        }
    }
}
