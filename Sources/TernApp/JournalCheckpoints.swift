public import Logging
public import ServiceLifecycle
public import TernStore

/// Runs the message journal's checkpoints (`MessageJournal.run`). It is the first service of
/// the group, so it stops last: after the listeners and the queue, a final checkpoint makes the
/// last messages durable in their mailboxes and leaves the journal with nothing to replay.
public struct JournalCheckpoints: Service {
    private let journal: MessageJournal
    private let logger: Logger

    public init(journal: MessageJournal, logger: Logger) {
        self.journal = journal
        self.logger = logger
    }

    public func run() async throws {
        let (journal, logger) = (self.journal, self.logger)
        await cancelWhenGracefulShutdown {
            await journal.run { error in
                logger.error("journal checkpoint failed; the journal keeps its entries", metadata: ["error": "\(error)"])
            }
        }
    }
}
