extension Array where Element == UInt8 {
    /// Appends `octets` in one copy where they are contiguous (a string's, or a slice of one).
    /// `append(contentsOf:)` copies a `Substring.UTF8View` octet by octet, which a listing of
    /// 100,000 names pays three times per name.
    mutating func appendOctets(_ octets: some Collection<UInt8>) {
        if octets.withContiguousStorageIfAvailable({ append(contentsOf: $0) }) == nil { append(contentsOf: octets) }
    }
}
