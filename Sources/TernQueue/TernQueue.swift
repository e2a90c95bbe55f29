// TernQueue: the qmgr role. Today it owns address resolution (`MailRouting`: local domains,
// mailboxes, aliases, catch-alls, sub-addressing); the durable queue, its scheduler, retries
// and bounces grow here next, behind the same `MessageStore` contract the SMTP server uses.
