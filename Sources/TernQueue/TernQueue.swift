// TernQueue: the qmgr role. Accepted mail waits in a `QueueStore` (TernStore; the `Spool` on the
// embedded default) until the `QueueManager` has delivered or bounced it: each recipient is resolved through the directory's
// routing (TernDirectory's `RoutingTable`), grouped by destination, and handed to a
// `DeliveryAgent` (local delivery into the `MailboxStore`, or SMTP to the next hop, both in
// TernDelivery). Temporary failures are retried on the `RetrySchedule` with fair turns between
// destinations (`QueueState`); permanent ones and expired messages become RFC 3464 reports
// (`NotificationPolicy` decides who may get one). Agents get a `DeliveryJob` (the typed
// `QueuedMessage` and a way to open its content) and return `DeliveryOutcome`s carrying an
// `SMTPReply`. `QueueControl` is the surface `tern queue` talks to.
//
// Security notes: a bounce goes only where `NotificationPolicy` allows (no backscatter to forged
// senders of unauthenticated mail); a failure report carries only the headers when the sender
// was not authenticated.
