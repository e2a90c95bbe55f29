// The DATA phase (RFC 5321 §4.1.1.4): a 10 KB message with dot-stuffed lines, read in the chunk
// sizes a server really sees.
//
// The session machine hands every read to `DotUnstuffer.decode`, which finds CRLF.CRLF, drops
// stuffed dots and emits slices of the read; the session adds the size check, the hop count
// (`HopCounter` over the header section) and one `appendBody` action per slice. Reads are
// 2 KiB (the first read size of NIO's adaptive allocator, what a plaintext connection starts
// with), 8 KiB (the allocator grown after full reads) and the whole message in one read (what
// one TLS record of up to 16 KiB hands up).
import Benchmark
import MicroSupport
import NIOCore
import TernSMTPCore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .micro()

    let message = Fixtures.dataPhase(size: 10 * 1024)
    let readSizes = [("2 KiB reads", 2048), ("8 KiB reads", 8 * 1024), ("one read", message.wire.count)]

    for (label, size) in readSizes {
        let reads = ByteBuffer.reads(of: message.wire, size: size)

        Benchmark("DotUnstuffer: 10 KB in \(label)") { benchmark in
            for _ in benchmark.scaledIterations {
                var unstuffer = DotUnstuffer(textLineLimit: 1000)
                // What the session does with octets the decoder left (at most "\r\n" or "."):
                // they stay in its input buffer and the next read is appended to them.
                var input = ByteBuffer()
                var octets = 0
                var outcome = DotUnstuffer.Outcome.needMoreData
                for read in reads {
                    if input.readableBytes == 0 {
                        input = read
                    } else {
                        var read = read
                        input.writeBuffer(&read)
                    }
                    outcome = unstuffer.decode(&input) { octets += $0.readableBytes }
                }
                precondition(outcome == .endOfData && octets == message.content.count)
                blackHole(octets)
            }
        }
    }

    // One whole transaction as a client sends it: EHLO; MAIL, RCPT and DATA pipelined in one
    // read (RFC 2920 §3.1 puts DATA last); the content; QUIT. Every action is executed, so
    // this is what the session machine costs per 10 KB message received.
    let ehlo = ByteBuffer.read("EHLO client.example.org\r\n")
    let envelope = ByteBuffer.read(
        "MAIL FROM:<alice.sender@example.org> SIZE=10240 BODY=8BITMIME\r\n"
            + "RCPT TO:<bob.recipient@example.net>\r\nDATA\r\n")
    let quit = ByteBuffer.read("QUIT\r\n")
    var session = SessionDriver()

    for (label, size) in readSizes {
        let reads = ByteBuffer.reads(of: message.wire, size: size)

        Benchmark("ServerSession: transaction, 10 KB DATA in \(label)") { benchmark in
            for _ in benchmark.scaledIterations {
                session.connect()
                session.read(ehlo)
                session.read(envelope)
                for read in reads { session.read(read) }
                session.read(quit)
                precondition(session.committed == 1 && session.bodyOctets == message.content.count)
                precondition(session.machine.isClosed && session.machine.errors == 0)
                blackHole(session.output.readableBytes)
            }
        }
    }
}
