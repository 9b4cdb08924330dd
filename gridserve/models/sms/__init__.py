"""SMS models: channels, campaigns, senders, texts, recipients, opt-outs, the outbox."""
