"""Car-transactions generator: event model, Kafka producer, bursts and the Flask API."""
