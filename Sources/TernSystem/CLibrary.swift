// The C library under its name on each platform, and Tern's own C shims (CTernSystem): the one
// place that knows the names. A module that calls the system (`open`, `fsync`, `clock_gettime`,
// `getaddrinfo`) writes `import TernSystem`, never its own `#if canImport(Glibc)` block.
#if canImport(Glibc)
@_exported public import Glibc
#elseif canImport(Musl)
@_exported public import Musl
#elseif canImport(Darwin)
@_exported public import Darwin
#endif
@_exported public import CTernSystem
