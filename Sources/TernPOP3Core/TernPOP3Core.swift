// TernPOP3Core: POP3 (RFC 1939, with RFC 2449's CAPA and response codes, RFC 2595's STLS and
// RFC 5034's AUTH) without I/O, like TernSMTPCore and TernIMAPCore: `POP3Command` parses a
// command line, `POP3ServerSession` is the connection's state machine (bytes and the driver's
// decisions in, actions out), `POP3TopFilter` cuts a message to TOP's header and body lines.
// No sockets, clocks or loggers; every number from the client is bounded before it indexes
// anything.
