-- CreateTable
CREATE TABLE "stat_counts" (
    "account_id" UUID NOT NULL,
    "dimension" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "metric" TEXT NOT NULL,
    "n" BIGINT NOT NULL,

    CONSTRAINT "stat_counts_pkey" PRIMARY KEY ("account_id","dimension","hour","value","metric")
);

-- CreateTable
CREATE TABLE "stat_cursors" (
    "account_id" UUID NOT NULL,
    "txid" TEXT NOT NULL,
    "event_id" UUID NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stat_cursors_pkey" PRIMARY KEY ("account_id")
);
