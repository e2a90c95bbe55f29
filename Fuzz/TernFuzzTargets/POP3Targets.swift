import NIOCore
import TernPOP3Core
import TernSASL

/// The POP3 protocol core: what a client sends to Tern's POP3 listeners.
enum POP3Targets {
    /// Each line of the input through `POP3Command.parse`: nothing traps, and every message
    /// number or line count that parses is within the bounds the session indexes with.
    static let command = FuzzTarget(
        name: "pop3-command",
        summary: "POP3Command.parse on command lines: keywords, message numbers, TOP's line count, USER/PASS, AUTH",
        maximumLength: 4096
    ) { bytes in
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let command = try? POP3Command.parse(line) else { continue }
            let range = 1...POP3Command.largestNumber
            switch command {
            case .list(let number?), .uidl(let number?), .retr(let number), .dele(let number):
                fuzzCheck(range.contains(number), "message number \(number) out of range")
            case .top(let number, let lines):
                fuzzCheck(range.contains(number) && (0...POP3Command.largestNumber).contains(lines), "TOP \(number) \(lines)")
            default:
                break
            }
        }
    }

    /// A whole server session driven with arbitrary client octets, the way the POP3 driver
    /// drives it: greeting, commands split into reads, STLS, logins accepted or refused, a
    /// maildrop of three messages opened or found in use, messages sent or found gone, QUIT's
    /// deletions made. Input: `flags`, `read seed`, then the client's octets. Nothing reaches
    /// the maildrop before a login, only listed UIDs are retrieved or deleted, nothing is sent
    /// after `.close`.
    static let server = FuzzTarget(
        name: "pop3-server",
        summary: "POP3ServerSession fed arbitrary client octets (USER/PASS, AUTH, STLS, TRANSACTION commands, QUIT)",
        maximumLength: 16 * 1024
    ) { bytes in
        var input = FuzzInput(bytes)
        let flags = input.byte()
        let seed = input.byte()
        var session = POP3ServerSession(
            configuration: .init(
                startTLSAvailable: flags & 1 != 0, implicitTLS: flags & 2 != 0, loginRequiresTLS: flags & 4 != 0,
                authenticationMechanisms: [.plain, .scramSHA256], maximumLineLength: 256))
        let listing = [
            POP3ServerSession.Message(uid: 3, size: 120), POP3ServerSession.Message(uid: 8, size: 0),
            POP3ServerSession.Message(uid: 9, size: 4096),
        ]
        let listed = Set(listing.map(\.uid))
        var closed = false
        func run(_ actions: [POP3ServerSession.Action]) {
            var pending = actions
            var rounds = 0
            while !pending.isEmpty, rounds < 10_000 {
                rounds += 1
                let action = pending.removeFirst()
                fuzzCheck(!closed, "an action after close: \(action)")
                switch action {
                case .send: break
                case .close: closed = true
                case .startTLS: pending += session.tlsEstablished()
                case .authenticate:
                    pending += session.authenticationCompleted(flags & 8 != 0 ? .accepted(user: "user") : .rejected)
                case .continueAuthentication(_, _, let isFirst):
                    pending += session.authenticationCompleted(
                        isFirst ? .challenge([0x72, 0x3D]) : flags & 8 != 0 ? .accepted(user: "user") : .malformed)
                case .openMaildrop:
                    pending += flags & 16 != 0 ? session.maildropRefused(.inUse) : session.maildropOpened(listing)
                case .retrieve(let uid, _, _):
                    fuzzCheck(session.user != nil && listed.contains(uid), "retrieved \(uid) outside a session's listing")
                    pending += session.retrievalCompleted(sent: flags & 32 == 0)
                case .update(let uids):
                    fuzzCheck(Set(uids).isSubset(of: listed), "deleting \(uids), not all listed")
                    pending += session.updateCompleted(succeeded: flags & 64 == 0)
                }
            }
        }
        run(session.greet())
        for read in FuzzInput.reads(input.rest, seed: seed) where !closed {
            run(session.bytesReceived(ByteBuffer(bytes: read)))
        }
    }
}
