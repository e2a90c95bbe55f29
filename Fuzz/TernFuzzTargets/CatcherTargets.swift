import TernHTTP
import TernStore

/// The catcher's HTTP inputs that reach a parser of Tern's own (the rest is Hummingbird's).
enum CatcherTargets {
    /// A search query as `GET /api/v1/search?query=` and the search box send it: terms,
    /// quotes, negation, `from:`/`to:`/`inbox:` and the dates of `before:`/`after:` (RFC 3339,
    /// seconds since 1970). A GET can be fired by any web page, so nothing here may trap.
    static let searchQuery = FuzzTarget(
        name: "search-query",
        summary: "SearchQuery.parse of a catcher search (terms, quotes, negation, dates)",
        maximumLength: 2048
    ) { bytes in
        _ = MessageFilter.parsingSearchQuery(String(decoding: bytes, as: UTF8.self))
    }
}
