// Exits 0 once the broker answers a metadata request (used by scripts/services to wait for Kafka).
const { Kafka, logLevel } = require('kafkajs');
const kafka = new Kafka({ brokers: [process.env.TIDEMARK_KAFKA_BROKERS], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1000 });
const admin = kafka.admin();
admin
  .connect()
  .then(() => admin.listTopics())
  .then(() => admin.disconnect())
  .then(() => process.exit(0))
  .catch(() => process.exit(1));
