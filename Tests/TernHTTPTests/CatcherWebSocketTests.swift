import Testing

@testable import TernHTTP

/// Who may open the WebSocket `/api/events`: the router's `LocalOnly` never sees an upgrade,
/// and a browser lets any page open a WebSocket anywhere, so the check is the upgrade's own.
@Suite("CatcherWebSocket: upgrades")
struct CatcherWebSocketTests {
    @Test("a local or allowed Host, with no Origin (not a browser) or the catcher's own")
    func allowed() {
        #expect(CatcherWebSocket.mayUpgrade(authority: "127.0.0.1:8025", origin: nil, allowedHosts: []))
        #expect(CatcherWebSocket.mayUpgrade(authority: "localhost:8025", origin: "http://localhost:8025", allowedHosts: []))
        #expect(CatcherWebSocket.mayUpgrade(authority: "[::1]:8025", origin: "HTTP://[::1]:8025", allowedHosts: []))
        #expect(CatcherWebSocket.mayUpgrade(authority: "tern:8025", origin: "http://tern:8025", allowedHosts: ["tern"]))
    }

    @Test("a page elsewhere, a rebound name, a sandboxed frame or no Host: refused", arguments: [
        ("127.0.0.1:8025", "http://evil.example"),
        ("127.0.0.1:8025", "http://127.0.0.1:8026"),
        ("127.0.0.1:8025", "null"),
        ("127.0.0.1:8025", "file://"),
        ("evil.example:8025", "http://evil.example:8025"),
        ("tern.evil.example:8025", nil),
    ] as [(String, String?)])
    func refused(authority: String, origin: String?) {
        #expect(!CatcherWebSocket.mayUpgrade(authority: authority, origin: origin, allowedHosts: ["tern"]))
    }

    @Test("no Host at all is refused")
    func noHost() {
        #expect(!CatcherWebSocket.mayUpgrade(authority: nil, origin: nil, allowedHosts: []))
    }
}
