// TernHTTP: the dev catcher's web UI and JSON API over Hummingbird, a Service in the same
// ServiceGroup as the SMTP listeners. It reads mail through TernStore's protocols.
import Hummingbird
