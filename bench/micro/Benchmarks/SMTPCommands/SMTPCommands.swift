// SMTP command lines: the parser alone, then the server session state machine around it.
//
// The parser benchmarks feed `CommandParser.parse(_:)` complete lines without CRLF, which is
// what the session hands it after `CommandLineFramer` has found the CRLF. The session benchmark
// runs one connection's command dialogue through `ServerSessionStateMachine` the way
// `SMTPSession` does (framing, parsing, sequencing, reply encoding), without DATA: the
// per-command cost an MX pays for every connection, including the ones that never send mail.
import Benchmark
import MicroSupport
import NIOCore
import TernSMTPCore

/// A typical client's commands, as Postfix's smtp client or swaks sends them.
let commandLines: [(name: String, line: String)] = [
    ("EHLO", "EHLO client.example.org"),
    ("MAIL FROM SIZE BODY", "MAIL FROM:<alice.sender@example.org> SIZE=10240 BODY=8BITMIME"),
    ("RCPT TO", "RCPT TO:<bob.recipient@example.net>"),
    ("DATA", "DATA"),
    ("RSET", "RSET"),
    ("QUIT", "QUIT"),
]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .micro()

    let lines = commandLines.map { (name: $0.name, buffer: ByteBuffer(string: $0.line)) }
    for line in lines {
        guard case .command = CommandParser.parse(line.buffer) else { preconditionFailure("\(line.name) is refused") }
    }

    Benchmark("CommandParser: mix of 6 (EHLO MAIL RCPT DATA RSET QUIT)", configuration: .micro(.kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            for line in lines {
                blackHole(CommandParser.parse(line.buffer))
            }
        }
    }

    for line in lines {
        Benchmark("CommandParser: \(line.name)", configuration: .micro(.kilo)) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(CommandParser.parse(line.buffer))
            }
        }
    }

    // One connection without mail: greeting, EHLO, then a pipelined group (RFC 2920) of MAIL,
    // three RCPT, RSET and QUIT in one read. 8 commands, 9 replies (with the greeting; the EHLO reply has 9 lines).
    let ehlo = ByteBuffer.read("EHLO client.example.org\r\n")
    let group = ByteBuffer.read(
        "MAIL FROM:<alice.sender@example.org> SIZE=10240 BODY=8BITMIME\r\n"
            + "RCPT TO:<bob.recipient@example.net>\r\n"
            + "RCPT TO:<carol@example.net>\r\n"
            + "RCPT TO:<dave.long-name+tag@sub.example.net>\r\n"
            + "RSET\r\nQUIT\r\n")
    var session = SessionDriver()

    Benchmark("ServerSession: EHLO, MAIL, 3 RCPT, RSET, QUIT (no DATA)") { benchmark in
        for _ in benchmark.scaledIterations {
            session.connect()
            session.read(ehlo)
            session.read(group)
            precondition(session.machine.isClosed && session.machine.errors == 0)
            blackHole(session.output.readableBytes)
        }
    }
}
