// TernDelivery: the delivery agents the queue manager calls. `LocalDeliveryAgent` (the MDA)
// writes Maildir; the remote agent (MX lookup and the SMTP client) joins it with the DNS work.
