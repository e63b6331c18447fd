-- CreateTable
CREATE TABLE "domains" (
    "id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "dkim_selector" TEXT NOT NULL,
    "dkim_private_key" TEXT NOT NULL,
    "dkim_public_key" TEXT NOT NULL,
    "ed25519_private_key" TEXT,
    "ed25519_public_key" TEXT,
    "return_path_domain" TEXT NOT NULL,
    "records" JSONB NOT NULL DEFAULT '[]',
    "verified_at" TIMESTAMPTZ(3),
    "checked_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "domains_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "domains_account_id_name_key" ON "domains"("account_id", "name");

-- AddForeignKey
ALTER TABLE "domains" ADD CONSTRAINT "domains_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
