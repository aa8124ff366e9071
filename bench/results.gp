# SPDX-License-Identifier: MIT
# Draws bench/results.csv (written by bench/bench) as bench/results.png, in
# six panels, each holding libcaplimit figures only:
#   cost against the baselines   median ratio (green PASS, red MISS, grey
#                                for information), IQR, target
#   libcaplimit against itself   the same for its self-scaling figures
#   thread scaling               ns/op of the crowds at 2..64 threads
#   wait-time tail               p50/p99/max by the bench's clock, mean and
#                                max from caplimit_counters
#   weighted holds               ratios against Go's Weighted algorithm:
#                                ns/op and the p99 wait
#   shared limiters              ratios against process-shared sem_t
#   gnuplot -e "csv='bench/results.csv'; png='bench/results.png'" results.gp
if (!exists("csv")) csv = 'bench/results.csv'
if (!exists("png")) png = 'bench/results.png'

# Columns of the CSV (see write_csv in bench.c).
ID = 1; WHAT = 2; VALUE = 4; BASE = 5; RATIO = 6; P25 = 7; P75 = 8
TARGET = 11; VERDICT = 12; PANEL = 18; X = 19; THREADS = 20
P50 = 21; P99 = 22; MAX = 23; LIBMEAN = 24; LIBMAX = 26

machine = system(sprintf("awk -F'\"' 'NR == 2 { print $4 \"; \" $6 \"; \" $8 \"; \" $10 }' '%s'", csv))

set terminal pngcairo size 1500,1650 noenhanced font ",10"
set output png
set datafile separator ","

color(v) = v eq "PASS" ? 0x2e8b57 : v eq "MISS" ? 0xc0392b : 0x9e9e9e
label(x) = sprintf("%s  %s", strcol(ID), strcol(WHAT))
# The rows of one panel, or of one scaling family (no field holds a comma).
panel(p) = sprintf("< awk -F, 'NR > 1 && $%d == \"%s\"' '%s'", PANEL, p, csv)
family(f) = sprintf("< awk -F, 'NR > 1 && index($1, \"%s\") == 1' '%s'", f, csv)

set multiplot layout 3,2 title sprintf("libcaplimit bench, a thread alive (lower is better)\n%s", machine)

# ---- Ratio panels ---------------------------------------------------------
set logscale y 10
set format y "%g"
set grid ytics
set xtics rotate by -35 left font ",8"
set style fill solid 0.7 border -1
set boxwidth 0.6
set key top left opaque font ",8"
set bmargin 12

set title "cost against the baselines: libcaplimit / baseline"
set ylabel "ratio (log scale)"
plot panel("cost") using X:RATIO:(color(strcol(VERDICT))):xtic(label(0)) \
         with boxes lc rgb variable notitle, \
     '' using X:RATIO:P25:P75 \
         with yerrorbars lc rgb "black" pt 0 title "IQR of the ratio", \
     '' using X:TARGET \
         with points pt 9 ps 2 lc rgb "#1f3b73" title "target (at most)", \
     1 with lines dt 2 lc rgb "gray" notitle

set title "libcaplimit against itself: large / small"
plot panel("self") using X:RATIO:(color(strcol(VERDICT))):xtic(label(0)) \
         with boxes lc rgb variable notitle, \
     '' using X:RATIO:P25:P75 \
         with yerrorbars lc rgb "black" pt 0 title "IQR of the ratio", \
     '' using X:TARGET \
         with points pt 9 ps 2 lc rgb "#1f3b73" title "target (at most)", \
     1 with lines dt 2 lc rgb "gray" notitle

# ---- Thread scaling -------------------------------------------------------
unset xtics
set xtics ("2" 2, "4" 4, "8" 8, "16" 16, "64" 64) rotate by 0 font ",9"
set logscale x 2
set xrange [1.7:75]
set bmargin 4
set key top left
set title "thread scaling: crowds of N threads on 2 tokens, ~300 ns critical section"
set xlabel "threads (log scale)"
set ylabel "ns per critical section (log scale)"
plot family("4@") using THREADS:VALUE with linespoints lw 2 pt 7 lc rgb "#1f3b73" title "caplimit FIFO", \
     '' using THREADS:BASE with linespoints dt 2 pt 6 lc rgb "#1f3b73" title "baton floor (FIFO baseline)", \
     family("5@") using THREADS:VALUE with linespoints lw 2 pt 5 lc rgb "#d35400" title "caplimit THROUGHPUT", \
     '' using THREADS:BASE with linespoints dt 2 pt 4 lc rgb "#d35400" title "sem_t (THROUGHPUT baseline)"

# ---- Tails ----------------------------------------------------------------
unset logscale x
unset xlabel
set xrange [-0.6:1.6]
set xtics ("FIFO" 0, "THROUGHPUT" 1) font ",10"
set boxwidth 0.15
set key top left
set title "wait-time tail: one acquire, 8 threads on 2 tokens"
set ylabel "ns (log scale)"
plot panel("tail") using (column(X) - 0.32):P50 with boxes lc rgb "#a9cce3" title "p50 (bench clock)", \
     '' using (column(X) - 0.16):P99 with boxes lc rgb "#5499c7" title "p99 (bench clock)", \
     '' using X:MAX with boxes lc rgb "#1f3b73" title "max (bench clock)", \
     '' using (column(X) + 0.16):LIBMEAN with boxes lc rgb "#f5cba7" title "mean wait of those that queued (counters)", \
     '' using (column(X) + 0.32):LIBMAX with boxes lc rgb "#d35400" title "wait_ns_max (counters)"

# ---- Weighted holds, shared limiters ----------------------------------------
unset xtics
set xtics rotate by -35 left font ",8"
set boxwidth 0.6
set bmargin 12
set ylabel "ratio (log scale)"
do for [pn in "weighted shared"] {
    set xrange [-0.6:(pn eq "weighted" ? 3.6 : 4.6)]
    set title pn eq "weighted" ? \
        "weighted holds, 8 threads, 1..8 of 16 tokens: libcaplimit / Go's Weighted algorithm" : \
        "shared limiters: caplimit_open'ed / process-shared sem_t"
    plot panel(pn) using X:RATIO:(color(strcol(VERDICT))):xtic(label(0)) \
             with boxes lc rgb variable notitle, \
         '' using X:RATIO:P25:P75 \
             with yerrorbars lc rgb "black" pt 0 title "IQR of the ratio", \
         '' using X:TARGET \
             with points pt 9 ps 2 lc rgb "#1f3b73" title "target (at most)", \
         1 with lines dt 2 lc rgb "gray" notitle
}

unset multiplot
