/// The two canonicalization algorithms of DKIM (RFC 6376 §3.4), named as a signature's `c=`
/// tag names them: `c=relaxed/simple` is `relaxed` for the header and `simple` for the body.
public enum DKIMCanonicalization: String, Sendable, Hashable, CaseIterable {
    /// §3.4.1 and §3.4.3: the octets as they are, but for empty lines at the body's end.
    case simple
    /// §3.4.2 and §3.4.4: whitespace runs as one space, none at a line's end; header names in
    /// lower case and unfolded values.
    case relaxed

    /// §3.4.1 and §3.4.2: one header field, `name:value` with its continuation lines as they
    /// came and its line end. The simple form is the field unchanged; the relaxed one lower-cases
    /// the name, unfolds the value, turns every run of whitespace into one space, removes it
    /// before and after the colon and at the value's end, and ends with CRLF.
    public func canonicalizeHeader(_ field: some Collection<UInt8>) -> [UInt8] {
        switch self {
        case .simple:
            return Array(field)
        case .relaxed:
            var out: [UInt8] = []
            out.reserveCapacity(field.count)
            guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else {
                // No colon: not a header field; what there is, lower-cased and unfolded.
                Self.appendRelaxed(field, lowercasing: true, to: &out)
                out += [.cr, .lf]
                return out
            }
            Self.appendRelaxed(field[..<colon], lowercasing: true, to: &out)
            out.append(UInt8(ascii: ":"))
            Self.appendRelaxed(field[field.index(after: colon)...], lowercasing: false, to: &out)
            out += [.cr, .lf]
            return out
        }
    }

    /// `octets` without CR and LF, each run of whitespace as one space and none at either end.
    private static func appendRelaxed(_ octets: some Collection<UInt8>, lowercasing: Bool, to out: inout [UInt8]) {
        var pendingSpace = false
        var wroteAny = false
        for octet in octets {
            switch octet {
            case .cr, .lf:
                // Unfolding (RFC 5322 §2.2.3): a line end inside a field is dropped; the
                // whitespace that follows it stays and joins the run.
                continue
            case .space, .tab:
                pendingSpace = wroteAny
            default:
                if pendingSpace { out.append(.space) }
                pendingSpace = false
                out.append(lowercasing && (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(octet) ? octet | 0x20 : octet)
                wroteAny = true
            }
        }
    }
}

/// A message body in DKIM's canonical form (RFC 6376 §3.4.3, §3.4.4), made as the body streams
/// by in chunks of any size: a line end or a run of whitespace may be split between two
/// chunks. Lines end in CRLF; a bare LF is taken as a line end too (a message read from a
/// Maildir file may have them), a bare CR is an ordinary octet.
public struct DKIMBodyCanonicalizer: Sendable {
    public let algorithm: DKIMCanonicalization
    /// Empty lines not written yet: only a line with content after them writes them (both
    /// algorithms ignore empty lines at the body's end).
    private var pendingEmptyLines = 0
    /// Relaxed: whitespace in the line not written yet; one space if content follows in the line.
    private var pendingSpace = false
    /// A CR not yet known to start a line end.
    private var pendingCR = false
    /// The current line has content written (relaxed: an octet other than whitespace).
    private var lineHasContent = false
    /// Octets written so far: the canonical length, which `l=` counts (§3.5).
    public private(set) var length = 0

    public init(_ algorithm: DKIMCanonicalization) {
        self.algorithm = algorithm
    }

    /// Canonicalizes the next octets of the body, appending the result to `out`.
    public mutating func update(_ chunk: some Sequence<UInt8>, into out: inout [UInt8]) {
        // Every octet of every body goes through here: read the chunk's storage directly (an
        // array, a slice, a ByteBuffer's view), not through a generic iterator.
        let done: Void? = chunk.withContiguousStorageIfAvailable { update(octets: $0, into: &out) }
        if done == nil { Array(chunk).withUnsafeBufferPointer { update(octets: $0, into: &out) } }
    }

    private mutating func update(octets chunk: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + chunk.count + 2)
        let start = out.count
        for octet in chunk {
            if pendingCR {
                pendingCR = false
                if octet == .lf {
                    endLine(into: &out)
                    continue
                }
                content(.cr, into: &out)
            }
            switch octet {
            case .cr:
                pendingCR = true
            case .lf:
                endLine(into: &out)
            case .space where algorithm == .relaxed, .tab where algorithm == .relaxed:
                pendingSpace = true
            default:
                content(octet, into: &out)
            }
        }
        length += out.count - start
    }

    /// The end of the body: the last line's end, if it had none, and §3.4.3's CRLF for an empty
    /// body under simple.
    public mutating func finish(into out: inout [UInt8]) {
        let start = out.count
        if pendingCR {
            pendingCR = false
            content(.cr, into: &out)
        }
        // "If the body is non-empty but does not end with a CRLF, a CRLF is added" (§3.4.4;
        // §3.4.3 likewise).
        if lineHasContent { out += [.cr, .lf] }
        lineHasContent = false
        pendingSpace = false
        // §3.4.3: "If there is no body or no trailing CRLF on the message body, a CRLF is
        // added"; under relaxed an empty body stays empty (RFC 6376 erratum 3192).
        if algorithm == .simple, length == 0, out.count == start { out += [.cr, .lf] }
        pendingEmptyLines = 0
        length += out.count - start
    }

    private mutating func content(_ octet: UInt8, into out: inout [UInt8]) {
        if !lineHasContent {
            for _ in 0..<pendingEmptyLines { out += [.cr, .lf] }
            pendingEmptyLines = 0
        }
        if pendingSpace {
            out.append(.space)
            pendingSpace = false
        }
        out.append(octet)
        lineHasContent = true
    }

    private mutating func endLine(into out: inout [UInt8]) {
        // Relaxed: whitespace at a line's end is ignored, so a line of only whitespace is empty.
        pendingSpace = false
        if lineHasContent {
            out += [.cr, .lf]
            lineHasContent = false
        } else {
            pendingEmptyLines += 1
        }
    }
}

extension UInt8 {
    fileprivate static let cr = UInt8(ascii: "\r")
    fileprivate static let lf = UInt8(ascii: "\n")
    fileprivate static let space = UInt8(ascii: " ")
    fileprivate static let tab = UInt8(ascii: "\t")
}
