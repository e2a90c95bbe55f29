// TernSMTPServer: the MTA (port 25) and MSA (587, 465) endpoints.
//
// One `SMTPServerHandler` per connection runs a `ServerSessionStateMachine` (TernSMTPCore)
// and executes its actions: replies, policy checks, writing the message into a
// `MessageStore` (TernStore), STARTTLS. It is the only place in the SMTP path that touches a
// channel, a clock or a logger.
//
// Security notes: the handler stops reading while a reply backlog builds up (a client that
// never reads cannot make us buffer replies), while the message writer is behind (bounded
// memory per session), and while a check or commit is pending (pipelined input waits in the
// socket, not in memory). A 250 is written only after the store's commit succeeded.
//
// Parameters (SMTPEndpoint.Configuration): greeting delay, command and data timeouts, and the
// session limits of ServerSessionStateMachine.Configuration.
