// TernSMTPCore: the SMTP protocol without I/O (RFC 5321 and its ESMTP extensions), both sides.
//
// Bytes and decisions go in, replies and actions come out. The grammar types (Grammar/) own
// their encoders (commands, replies, DotStuffer), the parsers (Parser/) carry the ABNF they
// implement (commands, paths, parameters, replies, DATA content), and the session state
// machines enforce sequencing, limits and the line discipline: ServerSession/ for the server
// that receives mail, ClientSession/ for the client that relays it to the next hop. Nothing
// here opens a socket, reads a clock or logs: drivers in TernSMTPServer and TernDelivery do that.
//
// Security notes: input is framed and parsed as bytes, never as Swift Characters (CR LF is one
// Character, and Character.isNewline is true for seven code points). A command executes only
// after a CRLF; bare CR and bare LF are errors, in commands and in replies alike. Every buffer
// has a limit from Limits or the session's configuration. The client treats the next hop as
// hostile: an endless or malformed reply is a temporary failure, never a crash or a delivery.
