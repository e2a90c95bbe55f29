/// The Public Suffix List (publicsuffix.org): the names under which anyone may register a
/// domain. DMARC's organizational domain (RFC 7489 §3.2) is the public suffix of a name and one
/// label more: `mail.example.co.uk` belongs to `example.co.uk`.
///
/// Read from the list's text form (Debian's `publicsuffix` package keeps it current in
/// `/usr/share/publicsuffix/public_suffix_list.dat`): one rule per line, `//` comments, `*.`
/// wildcards and `!` exceptions. Rules in Unicode (internationalized TLDs) never match the
/// A-labels DNS names are written in here, so those names fall under the default rule.
public struct PublicSuffixList: Sendable {
    private var rules: Set<String> = []
    /// `*.x`: every label under `x` is a suffix.
    private var wildcards: Set<String> = []
    /// `!x`: `x` is not a suffix though a wildcard says so.
    private var exceptions: Set<String> = []

    /// Where Debian's `publicsuffix` package puts the list.
    public static let debianPath = "/usr/share/publicsuffix/public_suffix_list.dat"

    /// Only the default rule (`*`): every TLD is a public suffix.
    public init() {}

    public init(text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            guard let rule = line.split(whereSeparator: \.isWhitespace).first, !rule.hasPrefix("//") else { continue }
            let lowered = rule.lowercased()
            if lowered.hasPrefix("!") {
                exceptions.insert(String(lowered.dropFirst()))
            } else if lowered.hasPrefix("*.") {
                wildcards.insert(String(lowered.dropFirst(2)))
            } else {
                rules.insert(lowered)
            }
        }
    }

    /// The number of rules read.
    public var count: Int { rules.count + wildcards.count + exceptions.count }

    /// The organizational domain of `name`: its public suffix and one label more; `name`
    /// itself when it is a public suffix. Lower case, without a final dot.
    public func organizationalDomain(of name: String) -> String {
        var name = name.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard labels.count > 1 else { return name }
        let start = suffixStart(labels)
        return start == 0 ? name : labels[(start - 1)...].joined(separator: ".")
    }

    /// The index of the first label of the public suffix of `labels`.
    private func suffixStart(_ labels: [String]) -> Int {
        func suffix(from index: Int) -> String { labels[index...].joined(separator: ".") }
        // An exception rule prevails: its public suffix is the rule without its first label.
        for index in labels.indices where exceptions.contains(suffix(from: index)) {
            return index + 1
        }
        // Otherwise the longest matching rule, `*` when none does.
        for index in labels.indices {
            if rules.contains(suffix(from: index)) { return index }
            if index + 1 < labels.count, wildcards.contains(suffix(from: index + 1)) { return index }
        }
        return labels.count - 1
    }
}
