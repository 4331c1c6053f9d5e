WITH l0 AS (
  SELECT
    "braf",
    "centre",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_mets",
    "liver_resectability",
    "lung_mets",
    "metastatic",
    "metastatic_organ_count",
    "ned",
    "peritoneal_mets",
    "ras",
    "sidedness",
    EXTRACT(YEAR FROM "decision_date") AS "year",
    COUNT(*) AS "n"
  FROM cohort
  GROUP BY
    "braf",
    "centre",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_mets",
    "liver_resectability",
    "lung_mets",
    "metastatic",
    "metastatic_organ_count",
    "ned",
    "peritoneal_mets",
    "ras",
    "sidedness",
    EXTRACT(YEAR FROM "decision_date")
), l1 AS (
  SELECT
    "braf",
    "centre",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "metastatic",
    "n",
    "ned",
    "ras",
    "sidedness",
    "year",
    (
      "metastatic" = TRUE
    ) AND (
      NOT (
        "ned" = TRUE
      )
    ) AS "c0",
    "liver_resectability" = 'resectable' AS "c1",
    "ecog" <= 1 AS "c2",
    (
      "liver_resectability" IN ('potentially_resectable', 'unresectable')
      OR (
        "liver_met_count" > 4
      )
    ) AS "c3",
    "ras" = 'wild_type' AS "c4",
    "sidedness" = 'left' AS "c5",
    NOT "braf" IS NULL AS "c6",
    "ras" IS NULL AS "c7",
    CASE
      WHEN "metastatic" IS NULL
      THEN 'unknown'
      WHEN "metastatic" = FALSE
      THEN 'none'
      WHEN "metastatic_organ_count" > 1
      THEN 'multiple'
      WHEN "lung_mets" = TRUE
      THEN 'lung'
      WHEN "liver_mets" = TRUE
      THEN 'liver'
      WHEN "peritoneal_mets" = TRUE
      THEN 'peritoneum'
      ELSE 'other'
    END AS "site"
  FROM l0
), l2 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "c7",
    "centre",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "metastatic",
    "n",
    "ned",
    "ras",
    "sidedness",
    "site",
    "year",
    "c0" AS "t0",
    TRUE AS "t1"
  FROM l1
), l3 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "metastatic",
    "n",
    "ned",
    "ras",
    "sidedness",
    "site",
    "t0",
    "year",
    "t0" AND "c1" AND "c2" AS "r0",
    "t0" AND "c3" AS "r1",
    "t1" AND "c4" AND "c5" AND "c6" AS "r3",
    "t1" AND "c7" AS "r4"
  FROM l2
), l4 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "metastatic",
    "n",
    "ned",
    "r0",
    "r1",
    "r3",
    "r4",
    "ras",
    "sidedness",
    "site",
    "t0",
    "year",
    COALESCE("t0", FALSE)
    AND (
      NOT (
        COALESCE("r0", FALSE) OR COALESCE("r1", FALSE)
      )
    ) AS "r2",
    COALESCE("done_action" IN ('resect_liver_metastases'), FALSE) AS "mar0",
    COALESCE("done_action" IN ('mdt_discussion'), FALSE) AS "mar2",
    COALESCE("done_regimen" IN ('FOLFOXIRI'), FALSE) AS "mgr1",
    COALESCE("done_regimen" IN ('FOLFOX_PANITUMUMAB'), FALSE) AS "mgr3"
  FROM l3
), l5 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "mar0",
    "mar2",
    "metastatic",
    "mgr1",
    "mgr3",
    "n",
    "ned",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "ras",
    "sidedness",
    "site",
    "t0",
    "year",
    "mar0" AS "mr0",
    "mgr1" AS "mr1",
    "mar2" AS "mr2",
    "mgr3" AS "mr3"
  FROM l4
), l6 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "mar0",
    "mar2",
    "metastatic",
    "mgr1",
    "mgr3",
    "mr0",
    "mr1",
    "mr2",
    "mr3",
    "n",
    "ned",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "ras",
    "sidedness",
    "site",
    "t0",
    "year",
    (
      (
        COALESCE("r0", FALSE) AND "mar0"
      ) OR (
        COALESCE("r2", FALSE) AND "mar2"
      )
    ) AS "sup_a",
    (
      (
        (
          "r0" IS NULL
        ) AND "mar0"
      )
      OR (
        (
          "t0" IS NULL
        ) AND "mar2"
      )
    ) AS "open_a",
    (
      (
        COALESCE("r1", FALSE) AND "mgr1"
      ) OR (
        COALESCE("r3", FALSE) AND "mgr3"
      )
    ) AS "sup_g",
    (
      (
        (
          "r1" IS NULL
        ) AND "mgr1"
      )
      OR (
        (
          "r3" IS NULL
        ) AND "mgr3"
      )
    ) AS "open_g",
    (
      (
        COALESCE("r0", FALSE) AND "mr0"
      )
      OR (
        COALESCE("r1", FALSE) AND "mr1"
      )
      OR (
        COALESCE("r2", FALSE) AND "mr2"
      )
    ) AS "sct0",
    (
      (
        COALESCE("r0", FALSE) OR (
          "r0" IS NULL
        )
      )
      OR (
        COALESCE("r1", FALSE) OR (
          "r1" IS NULL
        )
      )
      OR (
        COALESCE("r2", FALSE) OR (
          "t0" IS NULL
        )
      )
    ) AS "activet0",
    (
      (
        (
          (
            "r0" IS NULL
          ) AND "mr0"
        )
        OR (
          (
            "r1" IS NULL
          ) AND "mr1"
        )
        OR (
          (
            "t0" IS NULL
          ) AND "mr2"
        )
      )
      OR (
        (
          "done_action" IS NULL
        ) AND (
          "done_regimen" IS NULL
        )
      )
    ) AS "undecidablet0",
    COALESCE("r3", FALSE) AND "mr3" AS "sct1",
    (
      COALESCE("r3", FALSE) OR (
        "r3" IS NULL
      )
    ) AS "activet1",
    (
      (
        (
          "r3" IS NULL
        ) AND "mr3"
      )
      OR (
        (
          "done_action" IS NULL
        ) AND (
          "done_regimen" IS NULL
        )
      )
    ) AS "undecidablet1"
  FROM l5
), l7 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "mar0",
    "mar2",
    "metastatic",
    "mgr1",
    "mgr3",
    "mr0",
    "mr1",
    "mr2",
    "mr3",
    "n",
    "ned",
    "open_a",
    "open_g",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "ras",
    "sct0",
    "sct1",
    "sidedness",
    "site",
    "sup_a",
    "sup_g",
    "t0",
    "year",
    (
      "activet0" OR "activet1"
    ) AS "treated",
    (
      (
        NOT "sct0"
      ) AND "activet0"
    ) AND "undecidablet0" AS "sut0",
    (
      (
        NOT "sct0"
      ) AND "activet0"
    ) AND (
      NOT "undecidablet0"
    ) AS "sdt0",
    (
      (
        NOT "sct1"
      ) AND "activet1"
    ) AND "undecidablet1" AS "sut1",
    (
      (
        NOT "sct1"
      ) AND "activet1"
    ) AND (
      NOT "undecidablet1"
    ) AS "sdt1"
  FROM l6
), l8 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "mar0",
    "mar2",
    "metastatic",
    "mgr1",
    "mgr3",
    "mr0",
    "mr1",
    "mr2",
    "mr3",
    "n",
    "ned",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "ras",
    "sct0",
    "sct1",
    "sdt0",
    "sdt1",
    "sidedness",
    "site",
    "sup_a",
    "sup_g",
    "sut0",
    "sut1",
    "t0",
    "year",
    CASE
      WHEN NOT "treated"
      THEN 4
      WHEN (
        "done_action" IS NULL
      ) AND (
        "done_regimen" IS NULL
      )
      THEN 3
      WHEN (
        (
          (
            NOT "done_action" IS NULL
          ) AND (
            NOT "sup_a"
          ) AND (
            NOT "open_a"
          )
        )
        OR (
          (
            NOT "done_regimen" IS NULL
          ) AND (
            NOT "sup_g"
          ) AND (
            NOT "open_g"
          )
        )
      )
      THEN 2
      WHEN (
        (
          "done_action" IS NULL
        ) OR "sup_a"
      )
      AND (
        (
          "done_regimen" IS NULL
        ) OR "sup_g"
      )
      THEN 1
      ELSE 3
    END AS "status"
  FROM l7
), u8 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "mar0",
    "mar2",
    "metastatic",
    "mgr1",
    "mgr3",
    "mr0",
    "mr1",
    "mr2",
    "mr3",
    "n",
    "ned",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "ras",
    "sct0",
    "sct1",
    "sdt0",
    "sdt1",
    "sidedness",
    "site",
    "status",
    "sup_a",
    "sup_g",
    "sut0",
    "sut1",
    "t0",
    "year"
  FROM l8
  WHERE
    "status" = 3
), u9 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "metastatic",
    "mr0",
    "mr1",
    "mr2",
    "mr3",
    "n",
    "ned",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "ras",
    "sct0",
    "sct1",
    "sdt0",
    "sdt1",
    "sidedness",
    "site",
    "status",
    "sut0",
    "sut1",
    "t0",
    "year",
    CASE
      WHEN "status" = 3
      THEN (
        "r0" IS NULL
      )
      AND (
        (
          (
            NOT "done_action" IS NULL
          ) AND (
            NOT "sup_a"
          )
        ) AND "mar0"
      )
      ELSE FALSE
    END AS "wr0",
    CASE
      WHEN "status" = 3
      THEN (
        "r1" IS NULL
      )
      AND (
        (
          (
            NOT "done_regimen" IS NULL
          ) AND (
            NOT "sup_g"
          )
        ) AND "mgr1"
      )
      ELSE FALSE
    END AS "wr1",
    CASE
      WHEN "status" = 3
      THEN (
        "t0" IS NULL
      )
      AND (
        (
          (
            NOT "done_action" IS NULL
          ) AND (
            NOT "sup_a"
          )
        ) AND "mar2"
      )
      ELSE FALSE
    END AS "wr2",
    CASE
      WHEN "status" = 3
      THEN (
        "r3" IS NULL
      )
      AND (
        (
          (
            NOT "done_regimen" IS NULL
          ) AND (
            NOT "sup_g"
          )
        ) AND "mgr3"
      )
      ELSE FALSE
    END AS "wr3"
  FROM u8
), u10 AS (
  SELECT
    "centre",
    "mr0",
    "mr1",
    "mr2",
    "mr3",
    "n",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "sct0",
    "sct1",
    "sdt0",
    "sdt1",
    "site",
    "status",
    "sut0",
    "sut1",
    "t0",
    "year",
    CASE
      WHEN "status" = 3
      THEN (
        "braf" IS NULL
      ) AND (
        "wr3" AND (
          "c6" IS NULL
        )
      )
      ELSE FALSE
    END AS "x_braf",
    CASE
      WHEN "status" = 3
      THEN (
        "ecog" IS NULL
      ) AND (
        "wr0" AND (
          "c2" IS NULL
        )
      )
      ELSE FALSE
    END AS "x_ecog",
    CASE
      WHEN "status" = 3
      THEN (
        "liver_met_count" IS NULL
      ) AND (
        "wr1" AND (
          "c3" IS NULL
        )
      )
      ELSE FALSE
    END AS "x_liver_met_count",
    CASE
      WHEN "status" = 3
      THEN (
        "liver_resectability" IS NULL
      )
      AND (
        (
          "wr0" AND (
            "c1" IS NULL
          )
        ) OR (
          "wr1" AND (
            "c3" IS NULL
          )
        )
      )
      ELSE FALSE
    END AS "x_liver_resectability",
    CASE
      WHEN "status" = 3
      THEN (
        "metastatic" IS NULL
      )
      AND (
        (
          "wr0" AND (
            "t0" IS NULL
          )
        )
        OR (
          "wr1" AND (
            "t0" IS NULL
          )
        )
        OR (
          "wr2" AND (
            "t0" IS NULL
          )
        )
      )
      ELSE FALSE
    END AS "x_metastatic",
    CASE
      WHEN "status" = 3
      THEN (
        "ned" IS NULL
      )
      AND (
        (
          "wr0" AND (
            "t0" IS NULL
          )
        )
        OR (
          "wr1" AND (
            "t0" IS NULL
          )
        )
        OR (
          "wr2" AND (
            "t0" IS NULL
          )
        )
      )
      ELSE FALSE
    END AS "x_ned",
    CASE
      WHEN "status" = 3
      THEN (
        "ras" IS NULL
      ) AND (
        "wr3" AND (
          "c4" IS NULL
        )
      )
      ELSE FALSE
    END AS "x_ras",
    CASE
      WHEN "status" = 3
      THEN (
        "sidedness" IS NULL
      ) AND (
        "wr3" AND (
          "c5" IS NULL
        )
      )
      ELSE FALSE
    END AS "x_sidedness",
    (
      "status" = 3
    )
    AND (
      (
        "done_action" IS NULL
      ) AND (
        "done_regimen" IS NULL
      )
    ) AS "x_done"
  FROM u9
)
SELECT
  CASE WHEN "idx" = 0 THEN "site" END AS "site",
  CASE WHEN "idx" = 0 THEN "year" END AS "year",
  CASE WHEN "idx" = 0 THEN "centre" END AS "centre",
  CASE WHEN "idx" = 0 THEN "status" END AS "status",
  "idx",
  SUM("n") AS "decisions"
FROM (
  SELECT
    "site",
    "year",
    "centre",
    "status",
    "n",
    UNNEST(
      LIST_FILTER(
        [
          0,
          CASE WHEN "sct0" THEN 10 END,
          CASE WHEN "sdt0" THEN 11 END,
          CASE WHEN "sut0" THEN 12 END,
          CASE WHEN "sct1" THEN 13 END,
          CASE WHEN "sdt1" THEN 14 END,
          CASE WHEN "sut1" THEN 15 END,
          CASE WHEN "r0" THEN 16 END,
          CASE WHEN "r0" IS NULL THEN 17 END,
          CASE WHEN "r0" AND "mr0" THEN 18 END,
          CASE WHEN "r0" AND "sdt0" THEN 19 END,
          CASE WHEN (
            "r0" IS NULL
          ) AND "sut0" THEN 20 END,
          CASE WHEN "r1" THEN 21 END,
          CASE WHEN "r1" IS NULL THEN 22 END,
          CASE WHEN "r1" AND "mr1" THEN 23 END,
          CASE WHEN "r1" AND "sdt0" THEN 24 END,
          CASE WHEN (
            "r1" IS NULL
          ) AND "sut0" THEN 25 END,
          CASE WHEN "r2" THEN 26 END,
          CASE WHEN "r2" AND "mr2" THEN 27 END,
          CASE WHEN "r2" AND "sdt0" THEN 28 END,
          CASE WHEN (
            "t0" IS NULL
          ) AND "sut0" THEN 29 END,
          CASE WHEN "r3" THEN 30 END,
          CASE WHEN "r3" IS NULL THEN 31 END,
          CASE WHEN "r3" AND "mr3" THEN 32 END,
          CASE WHEN "r3" AND "sdt1" THEN 33 END,
          CASE WHEN (
            "r3" IS NULL
          ) AND "sut1" THEN 34 END,
          CASE WHEN "r4" THEN 35 END,
          CASE WHEN "r4" IS NULL THEN 36 END
        ],
        LAMBDA v : NOT v IS NULL
      )
    ) AS "idx"
  FROM l8
  UNION ALL
  SELECT
    "site",
    "year",
    "centre",
    "status",
    "n",
    UNNEST(
      LIST_FILTER(
        [
          CASE WHEN "x_braf" THEN 1 END,
          CASE WHEN "x_ecog" THEN 2 END,
          CASE WHEN "x_liver_met_count" THEN 3 END,
          CASE WHEN "x_liver_resectability" THEN 4 END,
          CASE WHEN "x_metastatic" THEN 5 END,
          CASE WHEN "x_ned" THEN 6 END,
          CASE WHEN "x_ras" THEN 7 END,
          CASE WHEN "x_sidedness" THEN 8 END,
          CASE WHEN "x_done" THEN 9 END
        ],
        LAMBDA v : NOT v IS NULL
      )
    ) AS "idx"
  FROM u10
) AS f
GROUP BY
  CASE WHEN "idx" = 0 THEN "site" END,
  CASE WHEN "idx" = 0 THEN "year" END,
  CASE WHEN "idx" = 0 THEN "centre" END,
  CASE WHEN "idx" = 0 THEN "status" END,
  "idx"
