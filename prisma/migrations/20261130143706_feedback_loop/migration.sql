-- CreateEnum
CREATE TYPE "SuppressionReason" AS ENUM ('hard_bounce', 'complaint', 'unsubscribe', 'manual');

-- AlterTable
ALTER TABLE "events" ADD COLUMN     "txid" xid8 NOT NULL DEFAULT pg_current_xact_id();

-- AlterTable
ALTER TABLE "recipients" ADD COLUMN     "bounce_category" TEXT;

-- CreateTable
CREATE TABLE "suppressions" (
    "id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "address" TEXT NOT NULL,
    "stream" TEXT NOT NULL DEFAULT '',
    "reason" "SuppressionReason" NOT NULL,
    "source" JSONB NOT NULL DEFAULT '{}',
    "expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "suppressions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "inbound_reports" (
    "id" UUID NOT NULL,
    "account_id" UUID,
    "kind" TEXT NOT NULL,
    "email_id" UUID,
    "recipient_id" UUID,
    "mail_from" TEXT NOT NULL,
    "rcpt_to" TEXT NOT NULL,
    "summary" JSONB NOT NULL DEFAULT '{}',
    "raw" BYTEA NOT NULL,
    "truncated" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "inbound_reports_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "suppressions_account_id_id_idx" ON "suppressions"("account_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "suppressions_account_id_address_stream_key" ON "suppressions"("account_id", "address", "stream");

-- CreateIndex
CREATE INDEX "inbound_reports_recipient_id_idx" ON "inbound_reports"("recipient_id");

-- CreateIndex
CREATE INDEX "inbound_reports_created_at_idx" ON "inbound_reports"("created_at");

-- CreateIndex
CREATE INDEX "events_account_id_txid_id_idx" ON "events"("account_id", "txid", "id");

-- AddForeignKey
ALTER TABLE "suppressions" ADD CONSTRAINT "suppressions_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
