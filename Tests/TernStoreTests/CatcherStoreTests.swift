import Testing

@testable import TernStore

@Suite("CatcherStore inbox names")
struct CatcherStoreTests {
    @Test("folder names keep plain characters, escape the rest, and decode back", arguments: [
        ("app-one", "app-one"), ("alice@example.test", "alice@example%2Etest"), ("../x", "%2E%2E%2Fx"),
        ("a b", "a%20b"), ("Ü", "%C3%9C"), ("100%", "100%25"), ("user+tag=1_2", "user+tag=1_2"),
    ])
    func roundTrip(name: String, folder: String) {
        #expect(CatcherStore.folderName(name) == folder)
        #expect(CatcherStore.inboxName(folder: folder) == name)
    }

    @Test("folder names Tern would not make are not inboxes", arguments: [
        "", "a.b", "a%2", "a%zz", "a%41", "a/b", "%FF", "a%2e",
    ])
    func foreign(folder: String) {
        #expect(CatcherStore.inboxName(folder: folder) == nil)
    }

    @Test("empty and overlong names have no folder")
    func limits() {
        #expect(CatcherStore.folderName("") == nil)
        #expect(CatcherStore.folderName(String(repeating: "a", count: 200)) != nil)
        #expect(CatcherStore.folderName(String(repeating: ".", count: 67)) == nil)
    }

    @Test("every UTF-8 name round-trips")
    func property() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let scalars = (0..<Int.random(in: 1...20, using: &generator)).compactMap { _ in
                Unicode.Scalar(UInt32.random(in: 1...0x2FF, using: &generator))
            }
            let name = String(String.UnicodeScalarView(scalars))
            guard let folder = CatcherStore.folderName(name) else { continue }
            #expect(!folder.contains(".") && !folder.contains("/"))
            #expect(CatcherStore.inboxName(folder: folder) == name)
        }
    }
}
