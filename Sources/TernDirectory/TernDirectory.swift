// TernDirectory: who lives here, below every role. Domains, mailboxes, aliases and accounts
// (`Account`, `AccountTable`, the `DirectoryStore` protocol a database implements), address
// resolution (`MailRouting` and the swappable `RoutingTable`: local domains, catch-alls,
// sub-addressing, alias expansion), and the secrets of logging in: password hashes and
// SCRAM-SHA-256 (RFC 5802, RFC 7677, RFC 5803).
//
// The SMTP server asks it whether a recipient exists and who may send as what; the queue asks it
// where a recipient's mail goes; IMAP and POP3 will ask it who is logging in. None of them
// imports another role to find out.
//
// Security notes: a local address resolves only to a configured mailbox, never to a path built
// from what a client wrote; alias expansion is bounded in depth and skips cycles; passwords are
// compared only through their hashes.
