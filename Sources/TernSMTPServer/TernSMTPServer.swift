// TernSMTPServer: the MTA (port 25) and MSA (587, 465) endpoints.
//
// Each connection is a TernNet `ServerConnection` (I/O, admission, backpressure, timeouts,
// tarpit, STARTTLS) driving an `SMTPSession`, which runs a `ServerSessionStateMachine`
// (TernSMTPCore) and executes what is SMTP's own: replies, policy and AUTH checks answered by the
// endpoint's `SMTPPolicy`, and messages taken in by `MessageIntake` (queue ID, Received header,
// RFC 6409 fix-ups, the From: check, the commit into a `MessageStore`). Nothing else in the SMTP
// path touches a channel, a clock or a logger.
//
// Security notes: the connection stops reading while a reply backlog builds up (a client that
// never reads cannot make us buffer replies), while the message writer is behind (bounded
// memory per session), and while a check or commit is pending (pipelined input waits in the
// socket, not in memory). A 250 is written only after the store's commit succeeded.
//
// Parameters (SMTPEndpoint.Configuration): greeting delay, command and data timeouts, and the
// session limits of ServerSessionStateMachine.Configuration.
