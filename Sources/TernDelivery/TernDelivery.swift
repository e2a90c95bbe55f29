// TernDelivery: the delivery agents the queue manager calls. `LocalDeliveryAgent` (the MDA)
// appends to the `MailboxStore`; `RemoteDeliveryAgent` finds the next hop (MX lookup or a
// configured relay route) and sends with the SMTP client (`SMTPClientConnection`). Both read the
// message from the queue store's `MessageSource`, never from a path, and state every outcome as
// an `SMTPReply` (the next hop's, or one of `DeliveryReplies.swift`).
