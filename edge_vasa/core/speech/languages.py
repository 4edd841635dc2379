"""The languages the project speaks: espeak-ng (and festival) voices and sentence banks written for this
project (2-8 s of speech each at the default rate), and the installed espeak-ng voice variants."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    espeak_voice: str
    sentences: tuple[str, ...]
    festival_voice: str | None = None
    sing_unit: str = "word"  # what sing() puts on one note: "word", "character" (Han) or "mora" (kana)


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in [
        Language(
            "en",
            "English",
            "en-us",
            festival_voice="kal_diphone",
            sentences=(
                "The morning train was late again, so I walked to work along the river.",
                "Could you please pass me the salt and the pepper?",
                "My grandmother grew tomatoes, beans and sweet yellow peppers in her garden.",
                "Thank you for calling; your order will arrive on Thursday afternoon.",
                "Why do cats always sit exactly where you want to put your book?",
                "We should leave early tomorrow, before the traffic gets heavy.",
                "She opened the window and a cool breeze filled the quiet room.",
                "Three thousand people watched the final match under the bright lights.",
                "Honestly, I think the blue jacket looks much better than the green one.",
                "Remember to charge your phone before the long flight to Singapore.",
                "The children laughed when the puppy chased its own tail around the yard.",
                "If it rains this weekend, we can visit the museum instead of the beach.",
            ),
        ),
        Language(
            "id",
            "Indonesian",
            "id",
            sentences=(
                "Selamat pagi, apa kabar hari ini?",
                "Saya ingin memesan nasi goreng dan segelas teh manis.",
                "Kemarin kami pergi ke pantai bersama keluarga besar.",
                "Tolong matikan lampu sebelum kamu keluar dari kamar.",
                "Harga sayur di pasar naik lagi minggu ini.",
                "Adik saya sedang belajar bermain gitar setiap sore.",
                "Kereta menuju Bandung berangkat pukul tujuh tepat.",
                "Jangan lupa membawa payung, sepertinya akan hujan deras.",
                "Buku itu sangat menarik, saya membacanya dalam dua hari.",
                "Kucing tetangga sering tidur di atas mobil kami.",
                "Bisakah kamu membantu saya mengangkat kotak yang berat ini?",
                "Setelah makan siang, kita akan rapat di ruang utama.",
            ),
        ),
        # Debian's plain "cmn" voice reads Han characters as English spellings; the pinyin one reads them.
        Language(
            "cmn",
            "Mandarin Chinese",
            "cmn-latn-pinyin",
            sing_unit="character",
            sentences=(
                "你好，今天天气很好，我们去公园散步吧。",
                "请问，去火车站怎么走？",
                "我每天早上喝一杯热茶，然后开始工作。",
                "这本书非常有意思，我已经看了两遍。",
                "周末我们打算去山上看日出。",
                "妈妈做的饺子是世界上最好吃的。",
                "他的中文说得越来越流利了。",
                "明天下午三点在图书馆门口见面。",
                "外面下着大雨，记得带伞。",
                "小猫在窗台上晒太阳，看起来很舒服。",
                "我们的航班因为大雾推迟了两个小时。",
                "谢谢你的帮助，有空请你吃饭。",
            ),
        ),
        Language(
            "es",
            "Spanish",
            "es",
            sentences=(
                "Buenos días, ¿a qué hora abre la farmacia?",
                "Mi hermano vive en Sevilla y trabaja en un hospital.",
                "Ayer cenamos pescado con limón y una ensalada fresca.",
                "Por favor, cierra la puerta cuando salgas de la casa.",
                "El autobús número doce pasa cada quince minutos.",
                "Me encanta caminar por la playa al atardecer.",
                "¿Has visto mis llaves? No las encuentro por ninguna parte.",
                "Los niños juegan al fútbol en el parque todos los sábados.",
                "Este invierno ha sido mucho más frío que el anterior.",
                "Vamos a necesitar más sillas para la fiesta de mañana.",
                "La abuela cuenta historias increíbles sobre su juventud.",
                "Si tienes tiempo, podemos tomar un café después de clase.",
            ),
        ),
        Language(
            "hi",
            "Hindi",
            "hi",
            festival_voice="hindi_NSK_diphone",
            sentences=(
                "नमस्ते, आज आप कैसे हैं और घर पर सब ठीक है?",
                "मुझे गरम चाय के साथ समोसे बहुत पसंद हैं।",
                "कल हम सब दिल्ली घूमने जाएंगे।",
                "कृपया दरवाज़ा बंद कर दीजिए, बाहर बहुत ठंड है।",
                "मेरी बहन डॉक्टर बनना चाहती है।",
                "बच्चे मैदान में क्रिकेट खेल रहे हैं।",
                "इस किताब की कहानी बहुत दिलचस्प है।",
                "बारिश के बाद आसमान में इंद्रधनुष दिखाई दिया।",
                "स्टेशन यहाँ से कितनी दूर है, क्या मैं पैदल जा सकता हूँ?",
                "माँ ने आज खाने में दाल, चावल और सब्ज़ी बनाई है।",
                "हमें पानी बचाना चाहिए, यह बहुत कीमती है।",
                "अगले हफ़्ते मेरे दोस्त की शादी है।",
            ),
        ),
        Language(
            "fr",
            "French",
            "fr",
            sentences=(
                "Bonjour, est-ce que vous savez où se trouve la gare ?",
                "Nous avons mangé une délicieuse tarte aux pommes hier soir.",
                "Il fait beau aujourd'hui, allons nous promener au bord du lac.",
                "Mon frère joue du violon depuis qu'il a six ans, et il adore ça.",
                "N'oublie pas d'acheter du pain et du fromage en rentrant.",
                "Le musée est fermé le lundi, mais ouvert tous les autres jours.",
                "Les enfants regardent un dessin animé dans le salon.",
                "Pourriez-vous parler un peu plus lentement, s'il vous plaît ?",
                "Cette rue est très calme pendant les vacances d'été.",
                "Je voudrais réserver une table pour quatre personnes.",
                "Le chat dort toujours sur le fauteuil rouge près de la fenêtre.",
                "Quand il pleut, je préfère rester à la maison avec un bon livre.",
            ),
        ),
        Language(
            "de",
            "German",
            "de",
            sentences=(
                "Guten Morgen, wie geht es dir heute, hast du gut geschlafen?",
                "Wir fahren am Wochenende mit dem Zug nach München.",
                "Kannst du mir bitte das Salz und den Pfeffer geben?",
                "Meine Schwester arbeitet seit drei Jahren in einer Bäckerei.",
                "Im Herbst fallen die bunten Blätter von den Bäumen.",
                "Der Hund bellt jedes Mal, wenn der Briefträger kommt.",
                "Ich habe meinen Regenschirm schon wieder im Büro vergessen.",
                "Zum Frühstück esse ich gern frische Brötchen mit Honig.",
                "Die Kinder spielen draußen im Schnee, bis es dunkel wird.",
                "Entschuldigung, wo ist hier die nächste Apotheke?",
                "Unser Nachbar repariert sein altes Fahrrad in der Garage.",
                "Nach dem Konzert sind wir noch lange spazieren gegangen.",
            ),
        ),
        Language(
            "ru",
            "Russian",
            "ru",
            sentences=(
                "Доброе утро, как ты спал и что тебе снилось?",
                "Мы купили свежий хлеб и молоко в магазине.",
                "Завтра обещают сильный снег и холодный северный ветер.",
                "Моя сестра учится в университете в Москве.",
                "Пожалуйста, закрой окно, в комнате холодно.",
                "Летом мы часто ездим на дачу к бабушке.",
                "Этот фильм оказался гораздо интереснее, чем я думал.",
                "Скажите, пожалуйста, где здесь ближайшая остановка?",
                "Дети весело играют во дворе после школы.",
                "Я всегда пью горячий чай с лимоном и свежим мёдом.",
                "Поезд отправляется ровно в восемь часов вечера.",
                "Наш кот любит спать на тёплом подоконнике.",
            ),
        ),
        # espeak-ng 1.51 reads kana but not kanji, so the bank is kana with spaces between phrases (as in
        # children's books).
        Language(
            "ja",
            "Japanese",
            "ja",
            sing_unit="mora",
            sentences=(
                "おはよう ございます。 きょうは いい てんき ですね。",
                "すみません、 えきは どこですか？ みちに まよって しまいました。",
                "わたしは まいあさ コーヒーを のみます。",
                "しゅうまつに ともだちと えいがを みに いきました。",
                "この みせの ラーメンは とても おいしいです。",
                "あしたは あめが ふるかもしれません。",
                "こどもたちが こうえんで あそんでいます。",
                "でんしゃが おくれて、 かいしゃに ちこくしました。",
                "なつやすみに うみへ いくのが たのしみです。",
                "ねこが まどの そばで ひるねを しています。",
                "すみません、 もう いちど ゆっくり いって ください。",
                "ははの つくる カレーは せかいで いちばん おいしいです。",
            ),
        ),
        Language(
            "vi",
            "Vietnamese",
            "vi",
            sentences=(
                "Xin chào, hôm nay bạn có khỏe không?",
                "Tôi muốn gọi một bát phở bò và một ly cà phê sữa đá.",
                "Cuối tuần này chúng tôi sẽ về quê thăm ông bà.",
                "Trời đang mưa to, bạn nhớ mang theo áo mưa nhé.",
                "Em gái tôi đang học tiếng Anh ở trường đại học.",
                "Chợ Bến Thành mở cửa từ sáng sớm đến tối muộn.",
                "Cảm ơn bạn rất nhiều vì đã giúp đỡ tôi.",
                "Con mèo nhà tôi thích ngủ trên ghế sofa.",
                "Chuyến xe buýt cuối cùng đi lúc mười giờ tối.",
                "Mùa thu ở Hà Nội rất đẹp và mát mẻ.",
                "Bạn có thể nói chậm hơn một chút được không?",
                "Sau bữa trưa, chúng ta sẽ họp ở phòng lớn.",
            ),
        ),
    ]
}


def _espeak_variants() -> tuple[str, ...]:
    for pattern in (
        "/usr/lib/*/espeak-ng-data/voices/!v",
        "/usr/lib/espeak-ng-data/voices/!v",
        "/usr/share/espeak-ng-data/voices/!v",
        "/usr/local/share/espeak-ng-data/voices/!v",
    ):
        for folder in glob.glob(pattern):
            # Variant names go into "voice+variant", so names with spaces cannot be selected.
            return tuple(sorted(n for n in os.listdir(folder) if " " not in n))
    return ()


# e.g. "f1".."f5", "m1".."m8", "klatt".."klatt6", "whisper", "Annie", "grandma", ...
ESPEAK_VARIANTS: tuple[str, ...] = _espeak_variants()
