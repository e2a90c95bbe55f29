// TernIMAPCore: IMAP without I/O (RFC 9051 IMAP4rev2, RFC 3501 IMAP4rev1), the server side.
//
// Bytes and decisions go in, responses and actions come out, as in TernSMTPCore. The parsers
// (Parser/) carry the ABNF of RFC 9051 §9 they implement; the grammar types (Grammar/) are the
// values commands name (sequence sets, ...). Nothing here opens a socket, reads a clock or
// logs: the driver in an IMAP server role does that, over TernNet's ServerConnection.
//
// Security notes: input is framed and parsed as octets, never as Swift Characters. A command
// is complete only at the CRLF that follows its last literal; a literal's size is read with
// overflow checks and refused against the configured limits before any octet of it is kept
// (`{4294967296}`, `{99999999999999999999}`), so a client cannot make the server allocate what
// it announces. A line without CRLF within its limit, or a non-synchronizing literal over the
// limit (whose octets the client sends anyway and that would otherwise be read as commands),
// ends the connection. Sequence sets are kept as ranges and resolved against the mailbox's
// size: `1:4294967295` costs one range, not four billion numbers.
