// Reference program for GestaltLab's C# port of dlib's 68-point shape predictor (a benchmark tool, not a product
// dependency). Reads a binary PPM (P6, the exact pixels the C# side decoded), runs dlib 19.24's shape_predictor on
// given boxes (or on boxes from dlib's HOG frontal face detector) and prints one CSV line per box:
//   kind,left,top,right,bottom,x0,y0,...,x67,y67
// With --repeat N it times N predictions per box on one thread and prints microseconds per face on stderr.
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_io.h>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace dlib;

static bool read_ppm(const std::string& path, array2d<rgb_pixel>& img)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::string magic; int w, h, maxv;
    in >> magic >> w >> h >> maxv;
    if (magic != "P6" || maxv != 255) return false;
    in.get();
    img.set_size(h, w);
    std::vector<unsigned char> buf((size_t)w * h * 3);
    in.read((char*)buf.data(), buf.size());
    if (!in) return false;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
        {
            const unsigned char* p = &buf[((size_t)y * w + x) * 3];
            img[y][x] = rgb_pixel(p[0], p[1], p[2]);
        }
    return true;
}

int main(int argc, char** argv)
{
    if (argc < 3)
    {
        std::cerr << "usage: dlib_reference MODEL.dat IMAGE.ppm [--boxes FILE] [--detect [--boxes-only]] [--repeat N]\n"
                     "  FILE: one box per line, 'left top right bottom' (dlib inclusive rectangle)\n";
        return 2;
    }
    std::string model = argv[1], image = argv[2], boxesFile;
    bool detect = false, boxesOnly = false; int repeat = 0;
    for (int i = 3; i < argc; ++i)
    {
        std::string a = argv[i];
        if (a == "--boxes" && i + 1 < argc) boxesFile = argv[++i];
        else if (a == "--detect") detect = true;
        else if (a == "--boxes-only") boxesOnly = true;   // print HOG boxes without landmarks (skips the 100 MB model load)
        else if (a == "--repeat" && i + 1 < argc) repeat = std::atoi(argv[++i]);
        else { std::cerr << "unknown argument " << a << "\n"; return 2; }
    }
    shape_predictor sp;
    if (!boxesOnly)
    {
        auto t0 = std::chrono::steady_clock::now();
        deserialize(model) >> sp;
        auto t1 = std::chrono::steady_clock::now();
        std::cerr << "load_ms," << std::chrono::duration<double, std::milli>(t1 - t0).count() << "\n";
    }

    array2d<rgb_pixel> img;
    if (!read_ppm(image, img)) { std::cerr << "cannot read P6 PPM " << image << "\n"; return 1; }

    std::vector<std::pair<std::string, rectangle>> boxes;
    if (!boxesFile.empty())
    {
        std::ifstream bf(boxesFile);
        long l, t, r, b;
        while (bf >> l >> t >> r >> b) boxes.push_back({"given", rectangle(l, t, r, b)});
    }
    if (detect)
    {
        frontal_face_detector det = get_frontal_face_detector();
        std::vector<rect_detection> dets;
        det(img, dets, 0.0);
        for (auto& d : dets) boxes.push_back({"hog", d.rect});
    }
    if (boxesOnly)
    {
        for (auto& kb : boxes)
            std::cout << kb.first << "," << kb.second.left() << "," << kb.second.top() << "," << kb.second.right() << "," << kb.second.bottom() << "\n";
        return 0;
    }
    for (auto& kb : boxes)
    {
        full_object_detection s = sp(img, kb.second);
        std::cout << kb.first << "," << kb.second.left() << "," << kb.second.top() << "," << kb.second.right() << "," << kb.second.bottom();
        for (unsigned long j = 0; j < s.num_parts(); ++j) std::cout << "," << s.part(j).x() << "," << s.part(j).y();
        std::cout << "\n";
    }
    if (repeat > 0 && !boxes.empty())
    {
        long sink = 0;
        auto a = std::chrono::steady_clock::now();
        for (int r = 0; r < repeat; ++r)
            for (auto& kb : boxes) sink += sp(img, kb.second).part(30).x();
        auto b = std::chrono::steady_clock::now();
        double us = std::chrono::duration<double, std::micro>(b - a).count() / ((double)repeat * boxes.size());
        std::cerr << "us_per_face," << us << ",faces," << (long)repeat * boxes.size() << ",sink," << sink << "\n";
    }
    return 0;
}
