// TernNet: what every Tern listener shares: the listening socket as a swift-service-lifecycle
// Service with graceful quiescing, TLS contexts (PEM files, or a self-signed certificate made
// on first start), and connection limits per client address and in total.
//
// `ServerConnection` is the skeleton of every line-protocol connection: admission, the ordered
// action loop, batched replies, backpressure, idle timeouts, tarpit and the STARTTLS switch. A
// protocol supplies a `ConnectionDriver` (its sans-IO session and the code for its actions) and
// plugs a channel initializer into `Listener`; it never opens sockets itself.
