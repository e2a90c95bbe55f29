// TernSASL: what every protocol's authentication shares (RFC 4422), without I/O: the base64 of
// the wire, the credentials a client presents, and the reading of PLAIN (RFC 4616). Each
// protocol core (SMTP AUTH, IMAP AUTHENTICATE, POP3 AUTH) frames the exchange in its own
// syntax; the checking against the directory is TernDirectory's `Authenticator`.
