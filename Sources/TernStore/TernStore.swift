// TernStore: where accepted mail lives on disk, and the transaction contract that puts it there.
//
// `MessageStore` mirrors the SMTP transaction (begin → append → commit | abort, as maddy's
// Delivery): the SMTP driver, and later the queue and local delivery, only see that. Two file
// stores implement it today: `Spool` (the queue directory of a serving MTA) and `Maildir` (a
// mailbox, used as the dev-mode catch-all).
//
// Durability (Postfix's rule): commit returns only after the message's data was synced, it was
// renamed into place and its directory synced, so a 250 sent after it survives a crash or a
// power cut. `StoreSync` decides how many messages one sync serves: each file on its own, or
// every file that finished in the same window with one `syncfs` (group commit, as
// `DirectorySync` does for directories). A small message for one mailbox may instead be made
// durable by an append to the `MessageJournal` (one overwrite and one fdatasync per batch, no
// metadata), its Maildir file written after the 250 and synced by the journal's checkpoint.
// Writes run on a thread pool, never on an event loop, in large blocks
// (`MessageWriterLimits.flushThreshold`).
//
// `QueueStore` is where accepted mail waits for delivery: typed `QueuedMessage`s, their delivery
// states saved by the queue manager, their content opened as a `MessageSource`. `Spool` is the
// embedded backend; `QueueStoreContract` in TernTestSupport is the suite every backend passes.
//
// `MailboxStore` is where delivered mail lives: mailboxes with UIDs, flags, expunge and a feed of
// changes, the seam that local delivery, IMAP, POP3 and `tern repair` use and that a PostgreSQL
// backend implements. `MaildirMailboxStore` is the embedded backend (one Maildir per mailbox, the
// UIDs in its `MaildirUIDList`, the flags in its file names); `MailboxStoreContract` in
// TernTestSupport is the suite every backend passes.
//
// Recovery: a file in tmp/ was never acknowledged (the rename is before the 250), so every
// start removes them.
