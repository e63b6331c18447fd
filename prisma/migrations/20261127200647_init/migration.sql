-- CreateEnum
CREATE TYPE "ApiKeyScope" AS ENUM ('full', 'send');

-- CreateEnum
CREATE TYPE "EmailStream" AS ENUM ('transactional', 'broadcast');

-- CreateEnum
CREATE TYPE "EmailSource" AS ENUM ('api', 'smtp');

-- CreateEnum
CREATE TYPE "RecipientKind" AS ENUM ('to', 'cc', 'bcc');

-- CreateEnum
CREATE TYPE "RecipientStatus" AS ENUM ('scheduled', 'queued', 'sending', 'sent', 'delivered', 'deferred', 'bounced', 'expired', 'failed', 'suppressed', 'cancelled');

-- CreateEnum
CREATE TYPE "EmailStatus" AS ENUM ('scheduled', 'queued', 'sending', 'sent', 'delivered', 'deferred', 'bounced', 'expired', 'failed', 'suppressed', 'cancelled', 'partially_delivered');

-- CreateTable
CREATE TABLE "accounts" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "accounts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "key_id" TEXT NOT NULL,
    "secret_hash" BYTEA NOT NULL,
    "scope" "ApiKeyScope" NOT NULL,
    "name" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "emails" (
    "id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "api_key_id" UUID,
    "source" "EmailSource" NOT NULL DEFAULT 'api',
    "status" "EmailStatus" NOT NULL,
    "from_header" TEXT NOT NULL,
    "envelope_from" TEXT NOT NULL,
    "to_header" JSONB NOT NULL DEFAULT '[]',
    "cc_header" JSONB NOT NULL DEFAULT '[]',
    "reply_to" JSONB NOT NULL DEFAULT '[]',
    "subject" TEXT NOT NULL,
    "text" TEXT,
    "html" TEXT,
    "headers" JSONB NOT NULL DEFAULT '{}',
    "tags" JSONB NOT NULL DEFAULT '{}',
    "stream" "EmailStream" NOT NULL DEFAULT 'transactional',
    "message_id" TEXT NOT NULL,
    "raw" BYTEA,
    "size_bytes" INTEGER NOT NULL,
    "scheduled_at" TIMESTAMPTZ(3),
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "emails_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "email_attachments" (
    "id" UUID NOT NULL,
    "email_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "filename" TEXT NOT NULL,
    "content_type" TEXT NOT NULL,
    "content_id" TEXT,
    "content" BYTEA NOT NULL,
    "size" INTEGER NOT NULL,

    CONSTRAINT "email_attachments_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "deliveries" (
    "id" UUID NOT NULL,
    "email_id" UUID NOT NULL,
    "route" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "deliveries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "recipients" (
    "id" UUID NOT NULL,
    "email_id" UUID NOT NULL,
    "delivery_id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "address" TEXT NOT NULL,
    "kind" "RecipientKind" NOT NULL,
    "status" "RecipientStatus" NOT NULL,
    "reason" TEXT,
    "attempt_count" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3),
    "lease_until" TIMESTAMPTZ(3),
    "last_code" INTEGER,
    "last_enhanced_code" TEXT,
    "last_reply" TEXT,
    "possible_duplicate" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "recipients_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "delivery_attempts" (
    "id" UUID NOT NULL,
    "recipient_id" UUID NOT NULL,
    "email_id" UUID NOT NULL,
    "number" INTEGER NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),
    "outcome" TEXT,
    "remote_host" TEXT,
    "remote_ip" TEXT,
    "smtp_code" INTEGER,
    "enhanced_code" TEXT,
    "reply" TEXT,
    "phase" TEXT,
    "tls_version" TEXT,
    "tls_cipher" TEXT,
    "duration_ms" INTEGER,

    CONSTRAINT "delivery_attempts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "events" (
    "id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "email_id" UUID NOT NULL,
    "recipient_id" UUID,
    "recipient" TEXT,
    "type" TEXT NOT NULL,
    "data" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idempotency_records" (
    "account_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "response_status" INTEGER NOT NULL,
    "response_body" JSONB NOT NULL,
    "email_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "idempotency_records_pkey" PRIMARY KEY ("account_id","key")
);

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_key_id_key" ON "api_keys"("key_id");

-- CreateIndex
CREATE INDEX "api_keys_account_id_created_at_idx" ON "api_keys"("account_id", "created_at");

-- CreateIndex
CREATE INDEX "emails_account_id_id_idx" ON "emails"("account_id", "id" DESC);

-- CreateIndex
CREATE INDEX "emails_tags_idx" ON "emails" USING GIN ("tags" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "email_attachments_email_id_idx" ON "email_attachments"("email_id");

-- CreateIndex
CREATE INDEX "deliveries_email_id_idx" ON "deliveries"("email_id");

-- CreateIndex
CREATE INDEX "recipients_email_id_idx" ON "recipients"("email_id");

-- CreateIndex
CREATE INDEX "recipients_delivery_id_idx" ON "recipients"("delivery_id");

-- CreateIndex
CREATE INDEX "recipients_account_id_address_email_id_idx" ON "recipients"("account_id", "address", "email_id");

-- CreateIndex
CREATE INDEX "recipients_pending_due_idx" ON "recipients"("next_attempt_at") WHERE (next_attempt_at IS NOT NULL);

-- CreateIndex
CREATE INDEX "delivery_attempts_recipient_id_idx" ON "delivery_attempts"("recipient_id");

-- CreateIndex
CREATE INDEX "events_email_id_id_idx" ON "events"("email_id", "id");

-- CreateIndex
CREATE INDEX "idempotency_records_expires_at_idx" ON "idempotency_records"("expires_at");

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "emails" ADD CONSTRAINT "emails_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "email_attachments" ADD CONSTRAINT "email_attachments_email_id_fkey" FOREIGN KEY ("email_id") REFERENCES "emails"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_email_id_fkey" FOREIGN KEY ("email_id") REFERENCES "emails"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "recipients" ADD CONSTRAINT "recipients_email_id_fkey" FOREIGN KEY ("email_id") REFERENCES "emails"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "recipients" ADD CONSTRAINT "recipients_delivery_id_fkey" FOREIGN KEY ("delivery_id") REFERENCES "deliveries"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "delivery_attempts" ADD CONSTRAINT "delivery_attempts_recipient_id_fkey" FOREIGN KEY ("recipient_id") REFERENCES "recipients"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Room in every page for a second version of a row, so the updates that finish an attempt or
-- change an email's status can stay on the same page (HOT) and skip index maintenance.
ALTER TABLE "delivery_attempts" SET (fillfactor = 70);
ALTER TABLE "emails" SET (fillfactor = 80);
