package import TernStore

extension MessageFilter {
    /// The filter a search query (`query=` of the API, the web UI's search box) stands for,
    /// parsed by `SearchQuery`: for the package's fuzz target (Fuzz/TernFuzzTargets), which
    /// cannot see the parser itself.
    package static func parsingSearchQuery(_ query: String) -> MessageFilter {
        SearchQuery.parse(query)
    }
}
