// TernStore: where accepted mail lives on disk, and the transaction contract that puts it there.
//
// `MessageStore` mirrors the SMTP transaction (begin → append → commit | abort, as maddy's
// Delivery): the SMTP driver, and later the queue and local delivery, only see that. Two file
// stores implement it today: `Spool` (the queue directory of a serving MTA) and `Maildir` (a
// mailbox, used as the dev-mode catch-all).
//
// Durability (Postfix's rule): commit returns only after the message file was fdatasync'ed,
// renamed into place and its directory fsync'ed, so a 250 sent after it survives a crash or a
// power cut. Directory syncs are shared by every message that finished while the previous
// sync ran (group commit, `DirectorySync`). Writes run on a thread pool, never on an event
// loop, in large blocks (`MessageWriterLimits.flushThreshold`).
//
// Recovery: a file in tmp/ was never acknowledged (the rename is before the 250), so every
// start removes them.
