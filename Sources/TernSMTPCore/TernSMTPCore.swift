// TernSMTPCore: the SMTP protocol without I/O (RFC 5321 and its ESMTP extensions).
//
// Bytes and decisions go in, replies and actions come out. The grammar types (Grammar/) own
// their encoders, the parsers (Parser/) carry the ABNF they implement, and the session state
// machines (ServerSession/) enforce sequencing, limits and the line discipline. Nothing here
// opens a socket, reads a clock or logs: drivers in TernSMTPServer and TernDelivery do that.
//
// Security notes: input is framed and parsed as bytes, never as Swift Characters (CR LF is one
// Character, and Character.isNewline is true for seven code points). A command executes only
// after a CRLF; bare CR and bare LF are errors. Every buffer has a limit from Limits or the
// session's configuration.
