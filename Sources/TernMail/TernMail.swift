// TernMail: the vocabulary every mail role shares (RFC 5321, RFC 3463, RFC 5598).
//
// Value types only: addresses, reply codes, queue identifiers and the protocol limits. Nothing
// here performs I/O, and nothing imports anything but the standard library, so every other
// module (pure cores included) can depend on it. The one exception is `WallClock.system`, which
// reads the C library's clock: the single place Tern reads the time of day.
