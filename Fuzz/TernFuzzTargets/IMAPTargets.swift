import NIOCore
import TernIMAPCore

/// The IMAP protocol core: what a client sends to Tern's IMAP listeners.
enum IMAPTargets {
    /// The command stream through `IMAPCommandFramer`, split into reads as a socket may deliver
    /// it, with small limits so that every refusal is reached. Input: `flags`, `read seed`, then
    /// the client's octets. Every command framed holds exactly the octets fed (lines, CRLFs and
    /// literals), a literal is never longer than its limit, and a fatal frame ends the input.
    static let framer = FuzzTarget(
        name: "imap-framer",
        summary: "IMAPCommandFramer: lines, {n} {n+} ~{n} literals, continuation requests, limits",
        maximumLength: 16 * 1024
    ) { bytes in
        var input = FuzzInput(bytes)
        let flags = input.byte()
        let seed = input.byte()
        let small = flags & 1 != 0
        let configuration = IMAPCommandFramer.Configuration(
            maximumLineLength: small ? 64 : 4096, maximumLiteralSize: small ? 128 : 8192,
            maximumNonSynchronizingLiteralSize: flags & 2 != 0 ? 8192 : 16, maximumCommandSize: small ? 512 : nil)
        var framer = IMAPCommandFramer(configuration: configuration)
        var buffer = ByteBuffer()
        var framed = 0
        var fed = 0
        reading: for read in FuzzInput.reads(input.rest, seed: seed) {
            buffer.writeBytes(read)
            fed += read.count
            while true {
                let before = buffer.readableBytes
                let frame = framer.next(&buffer)
                switch frame {
                case .needMoreData:
                    fuzzCheck(buffer.readableBytes <= before, "the framer grew its input")
                    continue reading
                case .command(let command):
                    fuzzCheck(command.lines.count == command.literals.count + 1, "lines and literals out of step")
                    fuzzCheck(
                        command.literals.allSatisfy { $0.readableBytes <= configuration.maximumLiteralSize },
                        "a literal over the limit was kept")
                    framed += command.lines.reduce(0) { $0 + $1.readableBytes + 2 }
                        + command.literals.reduce(0) { $0 + $1.readableBytes }
                case .continuationRequested, .literalRefused:
                    continue
                case .fatal:
                    break reading
                }
            }
        }
        fuzzCheck(framed <= fed, "framed \(framed) octets of \(fed)")
    }

    /// Sequence sets (`SequenceSet`): each line of the input parsed; a set that parses prints
    /// as it was written and resolves, against a largest number from the input, into
    /// ascending, disjoint ranges within 1...UInt32.max, without enumerating them.
    static let sequenceSet = FuzzTarget(
        name: "imap-sequence-set",
        summary: "SequenceSet: sequence-set and $ parsed, printed back, resolved to ranges",
        maximumLength: 4096
    ) { bytes in
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let set = SequenceSet(parsing: line) else { continue }
            fuzzCheck(Array(set.description.utf8) == Array(line), "\(set) does not print as it was written")
            let largest = line.reduce(UInt32(0)) { $0 &* 31 &+ UInt32($1) }
            for bound in [0, 1, largest, UInt32.max] {
                let ranges = set.ranges(largest: bound)
                fuzzCheck(ranges.allSatisfy { $0.lowerBound >= 1 }, "a range holds 0: \(ranges)")
                fuzzCheck(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound + 1 < $1.lowerBound }, "ranges overlap: \(ranges)")
            }
        }
    }
}
