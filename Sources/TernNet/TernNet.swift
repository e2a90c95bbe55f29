// TernNet: what every Tern listener shares: the listening socket as a swift-service-lifecycle
// Service with graceful quiescing, TLS contexts (PEM files, or a self-signed certificate made
// on first start), and connection limits per client address and in total.
//
// Protocol drivers (SMTP today; IMAP and POP3 later) plug a channel initializer into
// `Listener`; they never open sockets themselves.
