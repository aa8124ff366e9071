# SPDX-License-Identifier: MIT
# Draws bench/results.csv (written by bench/bench) as bench/results.png:
# each figure's median ratio (bar: green PASS, red MISS, grey for
# information), its interquartile range, and its target.
#   gnuplot -e "csv='bench/results.csv'; png='bench/results.png'" results.gp
if (!exists("csv")) csv = 'bench/results.csv'
if (!exists("png")) png = 'bench/results.png'

set terminal pngcairo size 1200,700 noenhanced font ",10"
set output png
set datafile separator ","
set title "libcaplimit against its baselines: median ratio of costs per operation (lower is better)"
set ylabel "ratio: libcaplimit / baseline (log scale)"
set logscale y 10
set format y "%g"
set grid ytics
set xtics rotate by -35 left font ",9"
set style fill solid 0.7 border -1
set boxwidth 0.6
set key top left opaque
set bmargin 13
set rmargin 22

color(v) = v eq "PASS" ? 0x2e8b57 : v eq "MISS" ? 0xc0392b : 0x9e9e9e
label(i, w) = sprintf("%s  %s", i, w)

plot csv every ::1 using 0:6:(color(strcol(12))):xtic(label(strcol(1), strcol(2))) \
         with boxes lc rgb variable notitle, \
     csv every ::1 using 0:6:7:8 with yerrorbars lc rgb "black" pt 0 title "IQR of the ratio", \
     csv every ::1 using 0:11 with points pt 9 ps 2 lc rgb "#1f3b73" title "target (at most)", \
     1 with lines dt 2 lc rgb "gray" notitle
