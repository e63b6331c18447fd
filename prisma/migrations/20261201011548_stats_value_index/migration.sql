-- CreateIndex
CREATE INDEX "stat_counts_account_id_dimension_value_hour_idx" ON "stat_counts"("account_id", "dimension", "value", "hour");
