-- CreateEnum
CREATE TYPE "CampaignStatus" AS ENUM ('active', 'paused', 'cancelled');

-- AlterTable
ALTER TABLE "accounts" ADD COLUMN     "quotas" JSONB NOT NULL DEFAULT '{}';

-- AlterTable
ALTER TABLE "emails" ADD COLUMN     "campaign_id" UUID,
ADD COLUMN     "template_id" UUID,
ADD COLUMN     "template_version" INTEGER,
-- The column keeps its data: streams are now names from STREAMS, not a fixed enum.
ALTER COLUMN "stream" DROP DEFAULT,
ALTER COLUMN "stream" SET DATA TYPE TEXT USING "stream"::text,
ALTER COLUMN "stream" SET DEFAULT 'transactional';

-- DropEnum
DROP TYPE "EmailStream";

-- CreateTable
CREATE TABLE "campaigns" (
    "id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "status" "CampaignStatus" NOT NULL DEFAULT 'active',
    "rate_per_hour" INTEGER,
    "scheduled_at" TIMESTAMPTZ(3),
    "next_slot_at" TIMESTAMPTZ(3),
    "paused_reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "campaigns_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "templates" (
    "id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "current_version" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "templates_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "template_versions" (
    "template_id" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "subject" TEXT NOT NULL,
    "text" TEXT,
    "html" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "template_versions_pkey" PRIMARY KEY ("template_id","version")
);

-- CreateTable
CREATE TABLE "stream_pauses" (
    "account_id" UUID NOT NULL,
    "stream" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "paused_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stream_pauses_pkey" PRIMARY KEY ("account_id","stream")
);

-- CreateIndex
CREATE INDEX "campaigns_account_id_id_idx" ON "campaigns"("account_id", "id" DESC);

-- CreateIndex
CREATE INDEX "templates_account_id_id_idx" ON "templates"("account_id", "id" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "templates_account_id_name_key" ON "templates"("account_id", "name");

-- CreateIndex
CREATE INDEX "emails_campaign_id_idx" ON "emails"("campaign_id");

-- AddForeignKey
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "templates" ADD CONSTRAINT "templates_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "template_versions" ADD CONSTRAINT "template_versions_template_id_fkey" FOREIGN KEY ("template_id") REFERENCES "templates"("id") ON DELETE CASCADE ON UPDATE CASCADE;
