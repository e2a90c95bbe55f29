// TernPOP3Server: the MAA role over POP3 (RFC 1939), for the clients and test frameworks that
// download and delete. Each connection runs TernPOP3Core's `POP3ServerSession` inside TernNet's
// `ServerConnection` (the shape of TernIMAPServer); logins go to a `MailAccess` (TernAccess: the
// account directory in serve mode, the catcher's inboxes in dev mode), and the maildrop is the
// user's INBOX from the same mailbox store that SMTP delivery and IMAP use.
//
// Security notes: a session reads and deletes only its own user's INBOX, by the UIDs its
// listing held; one POP3 session per maildrop at a time (`MaildropLocks`), IMAP sessions and
// deliveries go on beside it. Deletions happen only after QUIT, and `+OK` waits until they are
// durable; a dropped connection deletes nothing.
