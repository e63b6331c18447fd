-- AlterTable
ALTER TABLE "accounts" ADD COLUMN     "body_retention_days" INTEGER,
ADD COLUMN     "metadata_retention_days" INTEGER;

-- AlterTable
ALTER TABLE "emails" ADD COLUMN     "body_purged_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "retention_cursors" (
    "account_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "last_id" UUID NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "retention_cursors_pkey" PRIMARY KEY ("account_id","kind")
);
