// TernIMAPServer: the MAA role over IMAP (RFC 9051 IMAP4rev2, RFC 3501 IMAP4rev1). Each
// connection runs TernIMAPCore's `IMAPServerSession` inside TernNet's `ServerConnection` (the
// shape of TernSMTPServer); logins go to a `MailAccess` (TernAccess: the account directory's
// `Authenticator` in serve mode, the catcher's inboxes in dev mode), and mailbox commands run
// in `MailboxCommands` against the user's `MailboxFolders` (TernStore).
//
// Security notes: a client names mailboxes only inside its own user's folders; the folder
// store builds every path from checked names. Every command answers after the store's change
// is durable (the Maildir writes fsync before they return).
