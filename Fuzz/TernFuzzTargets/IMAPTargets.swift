import CompressNIO
import NIOCore
import NIOEmbedded
import TernIMAPCore
import TernIMAPServer
import TernMail
import TernSASL

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

    /// COMPRESS=DEFLATE's inbound stream (`DeflateStream` in an embedded channel), split into
    /// reads, with the connection asking for more as a session does. Input: `flags`, `read seed`,
    /// then the octets. With flag 1 the octets are first deflated as a client would, and what
    /// comes out must be exactly them; otherwise they are fed raw (garbage, or a stream a fuzzer
    /// built): whatever happens, it ends, and nothing is handed on past a corrupt stream.
    static let deflate = FuzzTarget(
        name: "imap-deflate",
        summary: "DeflateStream (COMPRESS=DEFLATE, RFC 4978): raw DEFLATE inflated in bounded chunks as reads are asked for",
        maximumLength: 16 * 1024
    ) { bytes in
        var input = FuzzInput(bytes)
        let flags = input.byte()
        let seed = input.byte()
        let plain = Array(input.rest)
        var wire = plain
        if flags & 1 != 0 {
            guard let compressor = try? ZlibCompressor(algorithm: .deflate) else { return }
            var source = ByteBuffer(bytes: plain)
            var compressed = ByteBuffer()
            compressed.reserveCapacity(compressor.maxSize(from: source) + 64)
            guard (try? compressor.deflate(from: &source, to: &compressed, flush: .sync)) != nil else { return }
            wire = Array(compressed.readableBytesView)
        }
        let channel = EmbeddedChannel()
        guard let stream = try? DeflateStream(allocator: channel.allocator),
            (try? channel.pipeline.syncOperations.addHandler(stream)) != nil,
            let peer = try? SocketAddress(ipAddress: "127.0.0.1", port: 143),
            (try? channel.connect(to: peer).wait()) != nil
        else { return }
        var inflated: [UInt8] = []
        /// Takes what was handed on; true when there was something.
        func collect() -> Bool {
            var collected = false
            while let chunk = try? channel.readInbound(as: ByteBuffer.self) {
                inflated += chunk.readableBytesView
                collected = true
            }
            return collected
        }
        func drain() {
            // The connection reads on: each read inflates one more chunk until nothing waits.
            _ = collect()
            for _ in 0..<10_000 {
                guard channel.isActive else { return }
                channel.read()
                channel.embeddedEventLoop.run()
                guard collect() else { return }
            }
            fuzzCheck(false, "inflating never ended")
        }
        for read in FuzzInput.reads(wire[...], seed: seed) where channel.isActive {
            _ = try? channel.writeInbound(ByteBuffer(bytes: read))
            drain()
        }
        // Reads the stream asked for and never got run now, so nothing holds the channel after.
        for _ in 0..<10_000 {
            channel.embeddedEventLoop.run()
            guard collect() else { break }
        }
        if flags & 1 != 0 { fuzzCheck(inflated == plain, "a deflated stream did not inflate to what was deflated") }
        _ = try? channel.finish(acceptAlreadyClosed: true)
        channel.embeddedEventLoop.run()
    }

    /// A whole server session driven with arbitrary client octets, the way an IMAP driver
    /// drives it: greeting, commands split into reads, STARTTLS, logins accepted or refused and
    /// mailbox commands answered as the flags choose. Input: `flags`, `read seed`, then the
    /// client's octets. Every action must be one the state allows: nothing is executed before a
    /// login, nothing is sent after `.close`.
    static let server = FuzzTarget(
        name: "imap-server",
        summary: "IMAPServerSession fed arbitrary client octets (commands, literals, STARTTLS, LOGIN, AUTHENTICATE, IDLE)",
        maximumLength: 16 * 1024
    ) { bytes in
        var input = FuzzInput(bytes)
        let flags = input.byte()
        let seed = input.byte()
        var session = IMAPServerSession(
            configuration: .init(
                startTLSAvailable: flags & 1 != 0, implicitTLS: flags & 2 != 0, loginRequiresTLS: flags & 4 != 0,
                authenticationMechanisms: [.plain, .scramSHA256],
                unauthenticatedLimits: .init(maximumLineLength: 256, maximumLiteralSize: 256),
                authenticatedLimits: .init(maximumLineLength: 2048, maximumLiteralSize: 4096),
                compressionAvailable: flags & 32 != 0))
        var closed = false
        func run(_ actions: [IMAPServerSession.Action]) {
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
                case .startCompression: fuzzCheck(session.compressionActive && flags & 32 != 0, "compression started unasked")
                case .authenticate:
                    pending += session.authenticationCompleted(flags & 8 != 0 ? .accepted(user: "user") : .rejected)
                case .continueAuthentication(_, _, let isFirst):
                    // A first response is challenged; a later one accepted or refused as the flags say.
                    pending += session.authenticationCompleted(
                        isFirst ? .challenge([0x72, 0x3D]) : flags & 8 != 0 ? .accepted(user: "user") : .malformed)
                case .execute(let command):
                    fuzzCheck(session.user != nil, "executed \(command) before a login")
                    switch command.kind {
                    case .select(let name, let readOnly, _) where flags & 16 != 0:
                        session.mailboxSelected(String(decoding: name, as: UTF8.self), readOnly: readOnly)
                    case .fetch, .store, .search, .copy, .move, .expunge:
                        guard case .selected = session.state else { fuzzCheck(false, "\(command) without a mailbox"); break }
                    case .close, .unselect:
                        session.mailboxClosed()
                    default: break
                    }
                    pending += session.commandCompleted()
                case .startIdle: break
                case .endIdle: pending += session.commandCompleted()
                }
            }
        }
        run(session.greet())
        for read in FuzzInput.reads(input.rest, seed: seed) where !closed {
            run(session.bytesReceived(ByteBuffer(bytes: read)))
        }
    }

    /// Framed commands through `IMAPCommandParser`, and through the reads it is made of
    /// (`CommandCursor`) on their own: a tag and a keyword, then whatever the next octet suggests (a list, a number or sequence set, a
    /// string or literal, NIL, an atom), as a command parser would read arguments. Every read
    /// consumes what it returns or throws; nothing traps, and reading always ends.
    static let command = FuzzTarget(
        name: "imap-command",
        summary: "IMAPCommandParser and CommandCursor reads: tag, keyword, astring, nstring, literal, list, sequence set",
        maximumLength: 8192
    ) { bytes in
        var framer = IMAPCommandFramer(
            configuration: .init(maximumLineLength: 2048, maximumLiteralSize: 2048, maximumNonSynchronizingLiteralSize: 2048))
        var buffer = ByteBuffer(bytes: bytes)
        framing: while true {
            switch framer.next(&buffer) {
            case .command(let command):
                _ = try? IMAPCommandParser.parse(command)
                var cursor = CommandCursor(command)
                guard (try? cursor.octets("a tag", while: { IMAPCharacters.isAStringChar($0) && $0 != UInt8(ascii: "+") })) != nil,
                    (try? cursor.space()) != nil, (try? cursor.keyword()) != nil
                else { continue }
                var steps = 0
                while (try? cursor.space()) != nil, steps < 1000 {
                    steps += 1
                    if (try? readArgument(&cursor, depth: 0)) == nil { break }
                }
                _ = try? cursor.end()
            case .continuationRequested, .literalRefused:
                continue
            case .needMoreData, .fatal:
                break framing
            }
        }
    }

    /// One argument, chosen by its first octet; lists nest at most 100 deep (the bound a server
    /// keeps, hostile-inputs: nesting).
    private static func readArgument(_ cursor: inout CommandCursor, depth: Int) throws(IMAPSyntaxError) {
        switch cursor.peek() {
        case UInt8(ascii: "(")?:
            guard depth < 100 else { throw IMAPSyntaxError("nested too deep") }
            _ = try cursor.list { (item: inout CommandCursor) throws(IMAPSyntaxError) in
                try readArgument(&item, depth: depth + 1)
            }
        case let octet? where IMAPCharacters.isDigit(octet) || octet == UInt8(ascii: "*") || octet == UInt8(ascii: "$"):
            _ = try cursor.sequenceSet()  // a number is a sequence set too
        case UInt8(ascii: "\"")?, UInt8(ascii: "{")?, UInt8(ascii: "~")?:
            _ = try cursor.string()
        case UInt8(ascii: "N")?, UInt8(ascii: "n")?:
            _ = try cursor.nstring()
        default:
            _ = try cursor.astring()
        }
    }

    /// Sequence sets (`SequenceSet`): each line of the input parsed; a set that parses prints
    /// as a set that reads back as itself, and resolves, against a largest number from the input, into
    /// ascending, disjoint ranges within 1...UInt32.max, without enumerating them.
    static let sequenceSet = FuzzTarget(
        name: "imap-sequence-set",
        summary: "SequenceSet: sequence-set and $ parsed, printed back, resolved to ranges",
        maximumLength: 4096
    ) { bytes in
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let set = SequenceSet(parsing: line) else { continue }
            // `1:1` prints as `1`: the printed set is the same set, not always the same octets.
            fuzzCheck(SequenceSet(parsing: Array(set.description.utf8)) == set, "\(set) does not read back as itself")
            let largest = line.reduce(UInt32(0)) { $0 &* 31 &+ UInt32($1) }
            for bound in [0, 1, largest, UInt32.max] {
                let ranges = set.ranges(largest: bound)
                fuzzCheck(ranges.allSatisfy { $0.lowerBound >= 1 }, "a range holds 0: \(ranges)")
                fuzzCheck(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound + 1 < $1.lowerBound }, "ranges overlap: \(ranges)")
            }
            // Resolved against a selected mailbox: positions ascend, each once, within the view.
            let uids = (0..<UInt32(line.count % 40)).map { $0 * 3 + UInt32(line.first ?? 1) % 5 + 1 }
            let mailbox = SelectedMailbox(
                uidValidity: 1, uidNext: (uids.last ?? 0) + 1, messages: uids.map { .init(uid: $0, flags: []) }, readOnly: false)
            for byUID in [false, true] {
                guard let positions = mailbox.resolve(set, byUID: byUID) else { continue }
                fuzzCheck(zip(positions, positions.dropFirst()).allSatisfy { $0 < $1 }, "positions not ascending: \(positions)")
                fuzzCheck(positions.allSatisfy { $0 >= 0 && $0 < uids.count }, "a position outside the view: \(positions)")
            }
            // QRESYNC's VANISHED (EARLIER): the UIDs of the set below UIDNEXT the view lacks, as
            // a set that reads back, never one the view holds.
            let missing = mailbox.missing(from: set)
            guard !missing.isEmpty else { continue }
            guard let vanished = SequenceSet(parsing: Array(missing.utf8)) else {
                fuzzCheck(false, "VANISHED \(missing) is not a sequence set")
                continue
            }
            for range in vanished.ranges(largest: mailbox.uidNext) {
                fuzzCheck(range.upperBound < mailbox.uidNext, "VANISHED \(missing) reaches UIDNEXT")
                fuzzCheck(!uids.contains { range.contains($0) }, "VANISHED \(missing) names a message in the view")
            }
        }
    }

    /// `date-time` (APPEND, INTERNALDATE) and `date` (SEARCH): what parses is a date Tern can
    /// hold, and INTERNALDATE's text of it parses back to the same second.
    static let dateTime = FuzzTarget(
        name: "imap-date-time",
        summary: "IMAPDateTime and SearchDate: APPEND's date-time, SEARCH's date, INTERNALDATE round trip",
        maximumLength: 1024
    ) { bytes in
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let octets = Array(line)
            if let seconds = IMAPDateTime.parse(octets) {
                fuzzCheck(CalendarBounds.seconds.contains(seconds), "\(seconds) is outside the calendar")
                let text = IMAPDateTime.format(seconds)
                fuzzCheck(IMAPDateTime.parse(Array(text.utf8)) == seconds, "\(text) does not read back as \(seconds)")
            }
            if let date = SearchDate(parsing: octets) {
                fuzzCheck((1...12).contains(date.month) && (1...31).contains(date.day), "impossible date \(date)")
            }
        }
    }

    /// IMAP4rev1's modified UTF-7 mailbox names: what decodes encodes back to the same octets
    /// (one spelling per name), and any name's encoding decodes to it.
    static let mailboxName = FuzzTarget(
        name: "imap-mailbox-name",
        summary: "ModifiedUTF7: IMAP4rev1 mailbox names decoded and encoded",
        maximumLength: 1024
    ) { bytes in
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let octets = Array(line)
            if let name = ModifiedUTF7.decode(octets) {
                fuzzCheck(ModifiedUTF7.encode(name) == octets, "\(name) does not encode back to what it was read from")
            }
            let name = String(decoding: octets, as: UTF8.self)
            guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { continue }
            fuzzCheck(ModifiedUTF7.decode(ModifiedUTF7.encode(name)) == name, "\(name) does not survive encoding")
        }
    }

    /// A record of `MessageFacts` as the mailbox cache returns it (damaged, foreign or
    /// hostile): what decodes encodes to a record that decodes to the same facts, and writes as
    /// ENVELOPE, BODY and BODYSTRUCTURE in both dialects.
    static let facts = FuzzTarget(
        name: "imap-facts",
        summary: "MessageFacts decoding a cached record (ENVELOPE, BODYSTRUCTURE, header length), encoding and writing it",
        maximumLength: 4096
    ) { bytes in
        guard let facts = MessageFacts(decoding: Array(bytes)) else { return }
        fuzzCheck(MessageFacts(decoding: facts.encoded()) == facts, "facts do not survive their own record: \(facts)")
        var buffer = ByteBuffer()
        for utf8 in [false, true] {
            facts.envelope.write(to: &buffer, utf8: utf8)
            facts.bodyStructure?.write(to: &buffer, extensible: true, utf8: utf8)
            facts.bodyStructure?.write(to: &buffer, extensible: false, utf8: utf8)
        }
    }
}
